import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { freePort } from '../../src/store/embedded.js';
import { createKeyCheck } from '../../src/store/key-check.js';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createDomain, dropScratch, migratedScratch, type Sql } from '../helpers/db.js';

const KEY_A = 'key-check-key-a-0123456789';
const KEY_B = 'key-check-key-b-0123456789';

let scratch: { url: string; sql: Sql };
beforeAll(async () => {
  // Its own database: the check reads every domain, and the shared one has rows under other keys.
  scratch = await migratedScratch('key_check');
});
afterAll(async () => {
  await dropScratch(scratch.url, scratch.sql);
});

function fakeClock(): Clock & { advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, monotonicMs: () => t, advance: (ms) => void (t += ms) };
}

describe('key check verdict cache', () => {
  it('is reused for its TTL, recomputed after it or after invalidate()', async () => {
    const { sql } = scratch;
    const d = await createDomain(sql);
    const repo = createProvidersRepo(sql);
    const p = await repo.create(
      d.domain_uuid,
      { provider_type: 'llm', provider_name: 'openai', secrets: { api_key: 'sk-1' } },
      KEY_A,
    );
    const clock = fakeClock();
    const check = createKeyCheck({ sql, key: KEY_A, clock, ttlMs: 60_000 });
    expect((await check.verdict()).ok).toBe(true);

    // Re-encrypted under another key behind the check's back: the cached verdict stands until it expires.
    await repo.update(d.domain_uuid, p.provider_uuid, { secrets: { api_key: 'sk-2' } }, KEY_B);
    clock.advance(59_000);
    expect((await check.verdict()).ok).toBe(true);
    clock.advance(1_001);
    const expired = await check.verdict();
    expect(expired).toMatchObject({ ok: false, domains: 1, failed: 1, failedDomains: [d.domain_name] });

    await repo.update(d.domain_uuid, p.provider_uuid, { secrets: { api_key: 'sk-3' } }, KEY_A);
    expect((await check.verdict()).ok).toBe(false);
    check.invalidate();
    expect((await check.verdict()).ok).toBe(true);
  });

  it('without a database and no verdict yet: failed, saying it could not verify', async () => {
    const dead = postgres(`postgres://nobody:pw@127.0.0.1:${await freePort()}/x`, {
      max: 1,
      connect_timeout: 2,
      onnotice: () => undefined,
    });
    try {
      const v = await createKeyCheck({ sql: dead, key: KEY_A }).verdict();
      expect(v.ok).toBe(false);
      expect(v.detail).toMatch(/^not verified yet: .*ECONNREFUSED/);
      expect(v.detail).not.toContain(KEY_A);
    } finally {
      await dead.end();
    }
  });
});
