import { randomUUID } from 'node:crypto';
import net from 'node:net';
import pino from 'pino';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { freePort } from '../../src/store/embedded.js';
import { createDirectory, type Directory, type DirectoryOptions } from '../../src/store/directory.js';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';

const KEY = 'directory-stale-key-5Tq9wLm2';
const TTL_MS = 60_000;
const STALE_MAX_MS = 3_600_000;
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

const admin = testSql();
cleanup.push(() => admin.end());

/**
 * LISTEN on a connection of its own that is never cut: these tests are about the lookups (when PostgreSQL
 * really goes away LISTEN drops too, and its re-establishment clears the cache: see the e2e outage test). A
 * new one per directory, opened after the test wrote its fixtures, so that no notification of theirs can
 * arrive later and drop an entry.
 */
function listenSql(): Sql {
  const sql = testSql({ max: 1 });
  cleanup.push(() => sql.end());
  return sql;
}

type Mode = 'up' | 'refused' | 'blackhole';

/**
 * A pool on the test database whose server can be made unreachable: `cut(mode)` terminates its open backends
 * (the connection is lost, as when the server goes away) and from then on new connections are refused (a
 * port nobody listens on) or never answered (a listener that accepts and stays silent).
 */
async function cuttableSql(): Promise<{ sql: Sql; cut(mode: Mode): Promise<void> }> {
  const real = new URL(inject('databaseUrl'));
  const refusedPort = await freePort();
  const silent: net.Socket[] = [];
  const blackhole = net.createServer((s) => void silent.push(s.on('error', () => undefined)));
  await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
  const blackholePort = (blackhole.address() as net.AddressInfo).port;
  cleanup.push(async () => {
    for (const s of silent) s.destroy();
    await new Promise((r) => blackhole.close(r));
  });
  const appName = `voice-ai-stale-${randomUUID().slice(0, 8)}`;
  let mode: Mode = 'up';
  const port = (): number =>
    mode === 'up' ? Number(real.port) : mode === 'refused' ? refusedPort : blackholePort;
  // `socket` is a documented postgres.js option its type declarations leave out.
  const options = {
    max: 2,
    connect_timeout: 2,
    backoff: () => 0.05,
    onnotice: () => undefined,
    connection: { application_name: appName },
    socket: () => net.connect(port(), real.hostname),
  };
  const sql = postgres(real.toString(), options);
  cleanup.push(() => sql.end({ timeout: 1 }));
  return {
    sql,
    async cut(next) {
      mode = next;
      if (next === 'up') return;
      await admin`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = ${appName}`;
      // Until the pool has seen its connections die, a query may still go out on one of them.
      const expected = next === 'refused' ? 'ECONNREFUSED' : 'CONNECT_TIMEOUT';
      const probe = () =>
        sql`SELECT 1`.then(
          () => 'answered',
          (err: { code?: string }) => err.code,
        );
      await expect
        .poll(async () => Promise.all([probe(), probe()]), { timeout: 15_000, interval: 10 })
        .toEqual([expected, expected]);
    },
  };
}

function fakeClock(): Clock & { advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, monotonicMs: () => t, advance: (ms) => void (t += ms) };
}

function recordingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

async function directory(
  opts: Partial<DirectoryOptions> & { sql: Sql },
): Promise<{ dir: Directory; clock: ReturnType<typeof fakeClock>; lines: Record<string, unknown>[] }> {
  const clock = fakeClock();
  const { log, lines } = recordingLog();
  const dir = createDirectory({
    log,
    listenSql: listenSql(),
    encryptionKey: KEY,
    clock,
    ttlMs: TTL_MS,
    negativeTtlMs: 5_000,
    staleMaxMs: STALE_MAX_MS,
    ...opts,
  });
  cleanup.push(() => dir.close());
  await dir.ready();
  return { dir, clock, lines };
}

/** A domain with one secretary at 1000 and one LLM provider (with a secret). */
async function tenant() {
  const domain = await createDomain(admin);
  const d = domain.domain_uuid;
  const provider = await createProvidersRepo(admin).create(
    d,
    { provider_type: 'llm', provider_name: 'main', secrets: { api_key: 'k1' } },
    KEY,
  );
  const secretary = await createSecretariesRepo(admin).create(d, {
    name: 'Ana',
    extension: '1000',
    greeting: 'hello',
  });
  return { ...domain, provider, secretary };
}

/** Everything a call looks up, as the call handler does. */
async function resolveAll(dir: Directory, t: Awaited<ReturnType<typeof tenant>>) {
  return {
    byUuid: (await dir.domainByUuid(t.domain_uuid))?.domain_name,
    byName: (await dir.domainByName(t.domain_name.toUpperCase()))?.domain_uuid,
    ext: (await dir.secretaryByExtension(t.domain_uuid, '1000'))?.greeting,
    sec: (await dir.secretaryByUuid(t.domain_uuid, t.secretary.secretary_uuid))?.name,
    list: (await dir.providersFor(t.domain_uuid, 'llm')).map((p) => p.provider_name),
    prov: (await dir.providerByUuid(t.domain_uuid, t.provider.provider_uuid))?.secrets,
  };
}

const staleWarnings = (lines: Record<string, unknown>[]) =>
  lines.filter((l) => l.msg === 'directory serving stale entries');

describe('directory while PostgreSQL is unreachable', () => {
  it('serves expired entries of every kind (domains too) once a load is refused, warns once, and recovers', async () => {
    const db = await cuttableSql();
    const t = await tenant();
    const { dir, clock, lines } = await directory({ sql: db.sql });
    const warm = await resolveAll(dir, t);
    expect(warm).toEqual({
      byUuid: t.domain_name,
      byName: t.domain_uuid,
      ext: 'hello',
      sec: 'Ana',
      list: ['main'],
      prov: { api_key: 'k1' },
    });

    await db.cut('refused');
    clock.advance(TTL_MS + 1);
    // The first load meets ECONNREFUSED and falls back; every other lookup, and a second call, too.
    expect(await resolveAll(dir, t)).toEqual(warm);
    expect(await resolveAll(dir, t)).toEqual(warm);
    expect(dir.stats()).toMatchObject({ staleServed: 12, databaseUnreachable: true });
    expect(staleWarnings(lines)).toHaveLength(1);
    expect(staleWarnings(lines)[0]).toMatchObject({ level: 40, staleMaxMs: STALE_MAX_MS });

    await db.cut('up');
    // During the outage stale entries are answered at once and refreshed behind: one lookup ends it.
    await expect
      .poll(async () => (await dir.secretaryByExtension(t.domain_uuid, '1000')) && dir.stats(), {
        timeout: 10_000,
        interval: 20,
      })
      .toMatchObject({ databaseUnreachable: false });
    expect(lines.filter((l) => l.msg === 'directory: database answering again')).toHaveLength(1);

    // A second outage warns again.
    await db.cut('refused');
    clock.advance(TTL_MS + 1);
    expect(await dir.secretaryByExtension(t.domain_uuid, '1000')).toMatchObject({ greeting: 'hello' });
    expect(staleWarnings(lines)).toHaveLength(2);
  });

  it('does not serve an entry older than staleMaxMs, nor anything on a cold cache', async () => {
    const db = await cuttableSql();
    const t = await tenant();
    const other = await tenant();
    const { dir, clock } = await directory({ sql: db.sql });
    await resolveAll(dir, t);

    await db.cut('refused');
    clock.advance(STALE_MAX_MS);
    expect((await dir.domainByUuid(t.domain_uuid))?.domain_name).toBe(t.domain_name);
    clock.advance(1);
    await expect(dir.domainByUuid(t.domain_uuid)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(dir.secretaryByExtension(t.domain_uuid, '1000')).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    await expect(dir.domainByUuid(other.domain_uuid)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(dir.domainByName(other.domain_name)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('does not serve a remembered absence past its own TTL', async () => {
    const db = await cuttableSql();
    const t = await tenant();
    const { dir, clock } = await directory({ sql: db.sql });
    expect(await dir.secretaryByExtension(t.domain_uuid, '404')).toBeUndefined();
    expect(await dir.domainByUuid(randomUUID())).toBeUndefined();

    await db.cut('refused');
    expect(await dir.secretaryByExtension(t.domain_uuid, '404')).toBeUndefined();
    clock.advance(5_001);
    await expect(dir.secretaryByExtension(t.domain_uuid, '404')).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    expect(dir.stats().staleServed).toBe(0);
  });

  it('does not serve entries a notification made outdated before the outage', async () => {
    const db = await cuttableSql();
    const t = await tenant();
    const { dir, clock, lines } = await directory({ sql: db.sql });
    await resolveAll(dir, t);
    await admin`UPDATE v_voice_secretaries SET is_enabled = false WHERE secretary_uuid = ${t.secretary.secretary_uuid}`;
    await expect
      .poll(() =>
        lines.some((l) => l.msg === 'directory: change notified' && l.domain_uuid === t.domain_uuid),
      )
      .toBe(true);

    await db.cut('refused');
    clock.advance(TTL_MS + 1);
    await expect(dir.secretaryByExtension(t.domain_uuid, '1000')).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
    // v_domains is not notified: the domain entry is still the last known one.
    expect((await dir.domainByUuid(t.domain_uuid))?.domain_name).toBe(t.domain_name);
  });

  it('answers stale at once while the server does not answer, instead of waiting its connect timeout', async () => {
    const db = await cuttableSql();
    const t = await tenant();
    const { dir, clock } = await directory({ sql: db.sql });
    await resolveAll(dir, t);

    await db.cut('blackhole');
    clock.advance(TTL_MS + 1);
    // The first lookup finds out the hard way (CONNECT_TIMEOUT after 2 s)...
    expect((await dir.domainByUuid(t.domain_uuid))?.domain_name).toBe(t.domain_name);
    expect(dir.stats().databaseUnreachable).toBe(true);
    // ...the rest do not wait: each is answered while its refresh is still connecting.
    const loads = dir.stats().loads;
    let settled = false;
    const refreshing = db.sql`SELECT 1`.then(
      () => (settled = true),
      () => (settled = true),
    );
    expect(await resolveAll(dir, t)).toMatchObject({ ext: 'hello', list: ['main'] });
    expect(settled).toBe(false);
    expect(dir.stats().loads).toBeGreaterThan(loads);
    await refreshing;
  }, 20_000);

  it('does not serve stale when the query fails on a database that answers (an error of its own)', async () => {
    const role = `voice_ai_stale_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
    const password = randomUUID();
    await admin.unsafe(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    cleanup.push(() => admin.unsafe(`DROP OWNED BY ${role}; DROP ROLE ${role}`));
    await admin.unsafe(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    const url = new URL(inject('databaseUrl'));
    url.username = role;
    url.password = password;
    const sql = postgres(url.toString(), { max: 1, onnotice: () => undefined });
    cleanup.push(() => sql.end({ timeout: 1 }));
    const t = await tenant();
    const { dir, clock } = await directory({ sql });
    expect((await dir.secretaryByExtension(t.domain_uuid, '1000'))?.greeting).toBe('hello');

    await admin.unsafe(`REVOKE SELECT ON v_voice_secretaries FROM ${role}`);
    clock.advance(TTL_MS + 1);
    await expect(dir.secretaryByExtension(t.domain_uuid, '1000')).rejects.toMatchObject({ code: '42501' });
    expect(dir.stats()).toMatchObject({ staleServed: 0, databaseUnreachable: false });
  });
});
