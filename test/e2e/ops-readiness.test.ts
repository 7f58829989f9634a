import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { dropScratch, migratedScratch, type Sql } from '../helpers/db.js';
import { startHarness, type Harness } from './call-harness.js';
import { httpGet, parseMetrics, pollUntil, samples } from './ops-daemon.js';

let h: Harness;
let restarted: FakeFreeSwitch | undefined;
let scratch: { url: string; sql: Sql };
beforeAll(async () => {
  // A database of its own: the shared one holds other tests' secrets under other keys, which the
  // encryption_key check would (rightly) report.
  scratch = await migratedScratch('ops_readiness');
  h = await startHarness({ databaseUrl: scratch.url });
});
afterAll(async () => {
  await h.close();
  await restarted?.stop();
  await dropScratch(scratch.url, scratch.sql);
});

interface Readiness {
  status: number;
  body: { ready: boolean; checks: { name: string; ok: boolean; detail?: string }[] };
}

async function readyz(): Promise<Readiness> {
  const res = await httpGet(h.daemon.httpPort, '/readyz');
  return { status: res.status, body: JSON.parse(res.text) as Readiness['body'] };
}

/** Polls /readyz until it answers `status` (bounded): readiness follows the connection, not a clock. */
const readyzUntil = (status: number, timeoutMs: number): Promise<Readiness> =>
  pollUntil(
    async () => {
      const r = await readyz();
      return r.status === status ? r : undefined;
    },
    `/readyz ${status}`,
    timeoutMs,
  );

const eslConnected = async (): Promise<number | undefined> =>
  samples(parseMetrics((await httpGet(h.daemon.httpPort, '/metrics')).text), 'voice_ai_esl_connected')[0]
    ?.value;

describe('/readyz follows the inbound ESL connection', () => {
  it('200 while connected, 503 naming esl when FreeSWITCH goes away, 200 again once it is back', async () => {
    const up = await readyzUntil(200, 5000);
    expect(up.body.ready).toBe(true);
    expect(up.body.checks).toEqual(
      expect.arrayContaining([
        { name: 'esl', ok: true },
        { name: 'database', ok: true },
        { name: 'draining', ok: true },
        { name: 'encryption_key', ok: true, detail: 'no provider secrets stored' },
      ]),
    );
    expect(await eslConnected()).toBe(1);

    const port = h.fs.inboundPort;
    await h.fs.stop();
    const down = await readyzUntil(503, 5000);
    expect(down.body.ready).toBe(false);
    expect(down.body.checks.filter((c) => !c.ok)).toEqual([
      { name: 'esl', ok: false, detail: 'inbound ESL not connected' },
    ]);
    expect(await eslConnected()).toBe(0);
    expect(h.logs.some((l) => l.msg === 'daemon not ready')).toBe(true);

    // "The same" FreeSWITCH restarted: the daemon reconnects with its backoff, no restart of its own.
    restarted = await startFakeFreeSwitch({ port, speed: 10 });
    const back = await readyzUntil(200, 15_000);
    expect(back.body.checks).toEqual(expect.arrayContaining([{ name: 'esl', ok: true }]));
    expect(restarted.inboundConnections()).toBe(1);
    expect(h.daemon.inbound.reconnects).toBe(1);
    const text = (await httpGet(h.daemon.httpPort, '/metrics')).text;
    expect(samples(parseMetrics(text), 'voice_ai_esl_connected')[0]?.value).toBe(1);
    expect(samples(parseMetrics(text), 'voice_ai_esl_reconnects_total')[0]?.value).toBe(1);
  });
});
