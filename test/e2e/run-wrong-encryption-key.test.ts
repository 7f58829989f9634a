/**
 * Issue 9 item 4: a wrong VOICE_AI_ENCRYPTION_KEY used to leave /readyz saying ready while every call failed
 * open. `voice-ai run` now says so in one error line and /readyz answers 503 naming the encryption_key check.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { startFakeFreeSwitch, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { dropScratch, migratedScratch, type Sql } from '../helpers/db.js';
import {
  createTenant,
  httpGet,
  OPS_ENCRYPTION_KEY,
  pollUntil,
  spawnDaemon,
  type DaemonProcess,
  type OpsTenant,
} from './ops-daemon.js';

const WRONG_KEY = 'a-wrong-but-long-enough-key-7e41b09d';
const KEY_LINE =
  'encryption key does not decrypt the stored provider secrets: calls to those domains will fail open';

interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}
interface Readyz {
  status: number;
  text: string;
  checks: Check[];
}

let fs: FakeFreeSwitch;
const daemons: DaemonProcess[] = [];
const scratches: { url: string; sql: Sql }[] = [];

beforeAll(async () => {
  fs = await startFakeFreeSwitch({ speed: 10 });
});
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.dispose()));
  await Promise.all(scratches.splice(0).map((s) => dropScratch(s.url, s.sql)));
});
afterAll(async () => {
  await fs.stop();
});

/** A database of the test's own: the shared one holds other tests' secrets under other keys. */
async function scratch(): Promise<{ url: string; sql: Sql }> {
  const s = await migratedScratch('wrong_key');
  scratches.push(s);
  return s;
}

async function tenant(sql: Sql): Promise<OpsTenant> {
  return createTenant(sql, { provider: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'sk-wrong-key-test-1' } });
}

async function daemon(url: string, key: string): Promise<DaemonProcess> {
  const d = await spawnDaemon({
    databaseUrl: url,
    eslPort: fs.inboundPort,
    env: { VOICE_AI_ENCRYPTION_KEY: key },
  });
  daemons.push(d);
  return d;
}

async function readyz(d: DaemonProcess): Promise<Readyz> {
  const res = await httpGet(d.httpPort, '/readyz');
  return { status: res.status, text: res.text, checks: (JSON.parse(res.text) as { checks: Check[] }).checks };
}

/** /readyz once ESL is connected (readiness follows the connection, so wait for it, bounded). */
const settled = (d: DaemonProcess, want: (r: Readyz) => boolean, what: string): Promise<Readyz> =>
  pollUntil(
    async () => {
      const r = await readyz(d);
      return r.checks.some((c) => c.name === 'esl' && c.ok) && want(r) ? r : undefined;
    },
    what,
    8000,
  );

const keyCheck = (r: Readyz): Check | undefined => r.checks.find((c) => c.name === 'encryption_key');

describe('voice-ai run checks that its encryption key opens the stored secrets', () => {
  it('a wrong key: one clear error line at start, /readyz 503 naming encryption_key, never the key', async () => {
    const { url, sql } = await scratch();
    const t = await tenant(sql);
    const d = await daemon(url, WRONG_KEY);

    const line = await d.waitForLog((l) => l.msg === KEY_LINE, 'the encryption key error line');
    expect(line.level).toBe(50);
    expect(line['detail']).toMatch(
      new RegExp(`does not decrypt the provider secrets of 1 of 1 domain\\(s\\): ${t.domain_name}`),
    );
    const r = await settled(d, (x) => keyCheck(x) !== undefined, '/readyz with the key check');
    expect(r.status).toBe(503);
    expect(r.checks.filter((c) => !c.ok).map((c) => c.name)).toEqual(['encryption_key']);
    expect(keyCheck(r)?.detail).toMatch(/the encryption key does not decrypt the provider secrets of 1 of 1/);
    expect(d.logs.filter((l) => l.msg === KEY_LINE)).toHaveLength(1);
    for (const text of [r.text, ...d.stdout, ...d.stderr]) {
      expect(text).not.toContain(WRONG_KEY);
      expect(text).not.toContain(OPS_ENCRYPTION_KEY);
    }
  });

  it('the verdict is dropped when a provider change is notified, well before its 60 s age', async () => {
    const { url, sql } = await scratch();
    const t = await tenant(sql);
    const d = await daemon(url, WRONG_KEY);
    await settled(d, (x) => keyCheck(x)?.ok === false, 'a failed key check');
    // The operator re-enters the secrets under the key the daemon has (e.g. after a botched rotation).
    const repo = createProvidersRepo(sql);
    for (const uuid of Object.values(t.providers)) {
      await repo.update(t.domain_uuid, uuid, { secrets: { api_key: 'sk-re-entered' } }, WRONG_KEY);
    }
    const r = await settled(d, (x) => x.status === 200, '/readyz 200 after the secrets were re-entered');
    expect(keyCheck(r)).toEqual({
      name: 'encryption_key',
      ok: true,
      detail: 'the key decrypts the provider secrets of all 1 domain(s)',
    });
  });

  it('the right key: ready, the check ok, no error line', async () => {
    const { url, sql } = await scratch();
    await tenant(sql);
    const d = await daemon(url, OPS_ENCRYPTION_KEY);
    const r = await settled(d, (x) => x.status === 200, '/readyz 200');
    expect(keyCheck(r)).toEqual({
      name: 'encryption_key',
      ok: true,
      detail: 'the key decrypts the provider secrets of all 1 domain(s)',
    });
    expect(d.logs.some((l) => l.msg === KEY_LINE)).toBe(false);
  });

  it('no secrets stored at all: ready with any key', async () => {
    const { url } = await scratch();
    const d = await daemon(url, WRONG_KEY);
    const r = await settled(d, (x) => x.status === 200, '/readyz 200');
    expect(keyCheck(r)).toEqual({ name: 'encryption_key', ok: true, detail: 'no provider secrets stored' });
  });
});
