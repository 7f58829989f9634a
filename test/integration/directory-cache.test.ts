import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { createDirectory, type Directory, type DirectoryOptions } from '../../src/store/directory.js';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createDomain, testSql, type Sql } from '../helpers/db.js';

const KEY = 'directory-test-key-8Hj3kL0p';
const log = pino({ level: 'silent' });
const clients: Sql[] = [];
const directories: Directory[] = [];

/** A pool that records the queries it sends (not LISTEN, not postgres.js' type fetch), to prove a hit sends none. */
function countingSql(): { sql: Sql; queries: string[] } {
  const queries: string[] = [];
  const sql = testSql({
    debug: (_conn: number, query: string) => {
      if (!/^\s*(un)?listen|pg_catalog\.pg_type/i.test(query)) queries.push(query);
    },
  });
  clients.push(sql);
  return { sql, queries };
}

const admin = testSql();
clients.push(admin);

function directory(opts: Partial<DirectoryOptions> & { sql: Sql }): Directory {
  const dir = createDirectory({ log, encryptionKey: KEY, ...opts });
  directories.push(dir);
  return dir;
}

function fakeClock(): Clock & { advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, monotonicMs: () => t, advance: (ms) => void (t += ms) };
}

// Each test writes its fixtures *before* the directory listens: a NOTIFY of a fixture arriving after the
// first lookup would otherwise (rightly) drop the entry and make hit counts racy.

/** Polls `check` until it holds, failing after `timeoutMs`: for effects that arrive asynchronously (NOTIFY). */
async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function secretaryIn(domainUuid: string, extension = '1000', greeting = 'hello') {
  return createSecretariesRepo(admin).create(domainUuid, { name: 'Ana', extension, greeting });
}

afterAll(async () => {
  await Promise.all(directories.map((d) => d.close()));
  await Promise.all(clients.map((c) => c.end()));
});

describe('directory cache', () => {
  it('serves hits without a query, and a plain-SQL UPDATE elsewhere invalidates within 1 s', async () => {
    const { sql, queries } = countingSql();
    const { domain_uuid: d } = await createDomain(admin);
    await secretaryIn(d);
    const dir = directory({ sql });
    await dir.ready();

    expect((await dir.secretaryByExtension(d, '1000'))?.greeting).toBe('hello');
    const sent = queries.length;
    const hits = dir.stats().hits;
    expect((await dir.secretaryByExtension(d, '1000'))?.greeting).toBe('hello');
    expect(dir.stats().hits).toBe(hits + 1);
    expect(queries.length).toBe(sent);

    await admin`UPDATE v_voice_secretaries SET greeting = 'changed' WHERE domain_uuid = ${d} AND extension = '1000'`;
    await waitUntil(
      async () => (await dir.secretaryByExtension(d, '1000'))?.greeting === 'changed',
      1000,
      'NOTIFY',
    );
  });

  it('remembers a missing extension briefly, until a secretary appears there', async () => {
    const { sql, queries } = countingSql();
    const clock = fakeClock();
    const { domain_uuid: d } = await createDomain(admin);
    const dir = directory({ sql, clock, negativeTtlMs: 5_000 });
    await dir.ready();

    expect(await dir.secretaryByExtension(d, '404')).toBeUndefined();
    const sent = queries.length;
    for (let i = 0; i < 50; i++) expect(await dir.secretaryByExtension(d, '404')).toBeUndefined();
    expect(queries.length).toBe(sent);
    clock.advance(5_001);
    expect(await dir.secretaryByExtension(d, '404')).toBeUndefined();
    expect(queries.length).toBe(sent + 1);

    await secretaryIn(d, '404', 'now here');
    await waitUntil(
      async () => (await dir.secretaryByExtension(d, '404'))?.greeting === 'now here',
      1000,
      'NOTIFY',
    );
  });

  it('expires positive entries after ttlMs by the injected clock', async () => {
    const { sql, queries } = countingSql();
    const clock = fakeClock();
    const { domain_uuid: d } = await createDomain(admin);
    await secretaryIn(d);
    const dir = directory({ sql, clock, ttlMs: 60_000 });
    await dir.ready();

    await dir.secretaryByExtension(d, '1000');
    const sent = queries.length;
    clock.advance(59_999);
    await dir.secretaryByExtension(d, '1000');
    expect(queries.length).toBe(sent);
    clock.advance(2);
    await dir.secretaryByExtension(d, '1000');
    expect(queries.length).toBe(sent + 1);
  });

  it('coalesces concurrent misses for one key into one query', async () => {
    const { sql, queries } = countingSql();
    const { domain_uuid: d } = await createDomain(admin);
    const s = await secretaryIn(d);
    const dir = directory({ sql });
    await dir.ready();
    const sent = queries.length;
    const results = await Promise.all(
      Array.from({ length: 25 }, () => dir.secretaryByUuid(d, s.secretary_uuid)),
    );
    expect(new Set(results.map((r) => r?.secretary_uuid))).toEqual(new Set([s.secretary_uuid]));
    expect(queries.length).toBe(sent + 1);
    expect(dir.stats().loads).toBe(1);
  });

  it('keeps tenants apart: same extension, separate entries, separate invalidation', async () => {
    const { sql, queries } = countingSql();
    const a = await createDomain(admin);
    const b = await createDomain(admin);
    await secretaryIn(a.domain_uuid, '1000', 'from A');
    await secretaryIn(b.domain_uuid, '1000', 'from B');
    const dir = directory({ sql });
    await dir.ready();

    expect((await dir.secretaryByExtension(a.domain_uuid, '1000'))?.greeting).toBe('from A');
    expect((await dir.secretaryByExtension(b.domain_uuid, '1000'))?.greeting).toBe('from B');
    await admin`UPDATE v_voice_secretaries SET greeting = 'A2' WHERE domain_uuid = ${a.domain_uuid}`;
    await waitUntil(
      async () => (await dir.secretaryByExtension(a.domain_uuid, '1000'))?.greeting === 'A2',
      1000,
      'NOTIFY',
    );
    const sent = queries.length;
    expect((await dir.secretaryByExtension(b.domain_uuid, '1000'))?.greeting).toBe('from B');
    expect(queries.length).toBe(sent);
  });

  it('caches providers with decrypted secrets and the ordered list per type, both invalidated by NOTIFY', async () => {
    const { sql } = countingSql();
    const { domain_uuid: d } = await createDomain(admin);
    const repo = createProvidersRepo(admin);
    const p = await repo.create(
      d,
      { provider_type: 'llm', provider_name: 'main', secrets: { api_key: 'k1' } },
      KEY,
    );
    const dir = directory({ sql });
    await dir.ready();

    expect((await dir.providerByUuid(d, p.provider_uuid))?.secrets).toEqual({ api_key: 'k1' });
    expect((await dir.providersFor(d, 'llm')).map((r) => r.provider_name)).toEqual(['main']);
    const cached = await dir.providerByUuid(d, p.provider_uuid);
    expect(Object.isFrozen(cached)).toBe(true);

    await repo.create(d, { provider_type: 'llm', provider_name: 'first', is_default: true });
    await repo.update(d, p.provider_uuid, { secrets: { api_key: 'k2' } }, KEY);
    await waitUntil(async () => (await dir.providersFor(d, 'llm')).length === 2, 1000, 'NOTIFY');
    expect((await dir.providersFor(d, 'llm')).map((r) => r.provider_name)).toEqual(['first', 'main']);
    expect((await dir.providerByUuid(d, p.provider_uuid))?.secrets).toEqual({ api_key: 'k2' });
  });

  it('survives the LISTEN connection being killed: lookups go on, and invalidation resumes after reconnect', async () => {
    const { sql } = countingSql();
    const appName = `voice-ai-dir-test-${randomUUID().slice(0, 8)}`;
    const listenSql = testSql({ connection: { application_name: appName } });
    clients.push(listenSql);
    const { domain_uuid: d } = await createDomain(admin);
    await secretaryIn(d);
    const dir = directory({ sql, listenSql });
    await dir.ready();
    await dir.secretaryByExtension(d, '1000');
    expect(dir.stats().listens).toBe(1);

    const killed = await admin<{ ok: boolean }[]>`
      SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = ${appName}`;
    expect(killed.map((k) => k.ok)).toEqual([true]);

    // Served whether the listener is down (cache, TTL) or already back (fresh query after the reset).
    expect((await dir.secretaryByExtension(d, '1000'))?.greeting).toBe('hello');

    await waitUntil(() => dir.stats().listens === 2, 10_000, 'LISTEN to be re-established');
    const back = await admin<{ n: number }[]>`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${appName}`;
    expect(back[0]?.n).toBe(1);
    const misses = dir.stats().misses;
    expect((await dir.secretaryByExtension(d, '1000'))?.greeting).toBe('hello');
    expect(dir.stats().misses).toBe(misses + 1);

    await admin`UPDATE v_voice_secretaries SET greeting = 'after reconnect' WHERE domain_uuid = ${d}`;
    await waitUntil(
      async () => (await dir.secretaryByExtension(d, '1000'))?.greeting === 'after reconnect',
      1000,
      'NOTIFY after reconnect',
    );
  });

  it('rejects malformed keys without a query and closes idempotently', async () => {
    const { sql, queries } = countingSql();
    const dir = directory({ sql });
    await dir.ready();
    const sent = queries.length;
    expect(await dir.secretaryByExtension('not-a-uuid', '1000')).toBeUndefined();
    expect(await dir.secretaryByExtension(randomUUID(), "1000' OR 1=1")).toBeUndefined();
    expect(await dir.providersFor('nope', 'llm')).toEqual([]);
    expect(queries.length).toBe(sent);
    await dir.close();
    await dir.close();
    expect(dir.stats().size).toBe(0);
  });
});
