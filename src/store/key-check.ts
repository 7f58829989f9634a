import { systemClock, type Clock } from '../core/clock.js';
import { guard, opensWithKey } from './secrets.js';
import type { Db } from './repos/types.js';

/**
 * Proves the configured key opens the stored provider secrets (issue 9 item 4): a wrong key used to go
 * unnoticed until every call failed open with SecretKeyError while /readyz said ready.
 *
 * One secret-bearing row per domain (its most recently written one) is trial-decrypted. Like rotateKey this
 * reads every domain on purpose: the key belongs to the installation, not to a tenant.
 */

/** The verdict on the key; `detail` names counts and domains, never the key or a secret. */
export interface KeyVerdict {
  ok: boolean;
  /** Domains that have at least one provider with secrets. */
  domains: number;
  /** Of those, the ones whose sampled row the key does not open. */
  failed: number;
  /** Up to 5 names (or uuids) of failing domains, for the operator. */
  failedDomains: string[];
  detail: string;
}

interface SampleRow {
  domain_uuid: string;
  domain_name: string | null;
  provider_uuid: string;
  updated_at: Date;
  secrets: Buffer;
}

const NAMED = 5;

/**
 * Trial-decrypts one row per domain (only `domainUuid`'s when given). Database errors propagate (scrubbed);
 * a missing key is a failed verdict when any secrets exist.
 */
export async function verifyKey(
  sql: Db,
  key: string | undefined,
  opts: { domainUuid?: string; memo?: Map<string, boolean> } = {},
): Promise<KeyVerdict> {
  const only = opts.domainUuid ?? null;
  const rows = await guard(
    () => sql<SampleRow[]>`
      SELECT DISTINCT ON (p.domain_uuid) p.domain_uuid, d.domain_name, p.provider_uuid, p.updated_at, p.secrets
      FROM v_voice_ai_providers p LEFT JOIN v_domains d ON d.domain_uuid = p.domain_uuid
      WHERE p.secrets IS NOT NULL AND (${only}::uuid IS NULL OR p.domain_uuid = ${only}::uuid)
      ORDER BY p.domain_uuid, p.updated_at DESC, p.provider_uuid`,
  );
  const failing: SampleRow[] = [];
  const keyed = typeof key === 'string' && key.length > 0;
  const seen = new Map<string, boolean>();
  for (const row of rows) {
    // A row already proven (same row, same write) is not decrypted again: with thousands of domains a
    // refresh then costs one SELECT, not thousands of S2K derivations.
    const memoKey = `${row.provider_uuid}@${row.updated_at.getTime()}`;
    let ok = opts.memo?.get(memoKey);
    if (ok === undefined) {
      ok = keyed && opensWithKey(row.secrets, key);
      // Each trial costs an S2K derivation: let calls in progress run between them.
      await new Promise((resolve) => setImmediate(resolve));
    }
    seen.set(memoKey, ok);
    if (!ok) failing.push(row);
  }
  if (opts.memo !== undefined) {
    opts.memo.clear();
    for (const [k, v] of seen) opts.memo.set(k, v);
  }
  const failedDomains = failing.slice(0, NAMED).map((r) => r.domain_name ?? r.domain_uuid);
  return {
    ok: failing.length === 0,
    domains: rows.length,
    failed: failing.length,
    failedDomains,
    detail: describeVerdict(rows.length, failing.length, failedDomains, keyed),
  };
}

function describeVerdict(domains: number, failed: number, names: string[], keyed: boolean): string {
  if (domains === 0) return 'no provider secrets stored';
  if (failed === 0) return `the key decrypts the provider secrets of all ${domains} domain(s)`;
  const more = failed > names.length ? `, and ${failed - names.length} more` : '';
  const which = `${names.join(', ')}${more}`;
  if (!keyed) {
    return `no encryption key configured (VOICE_AI_ENCRYPTION_KEY), yet ${failed} domain(s) have provider secrets: ${which}`;
  }
  return (
    `the encryption key does not decrypt the provider secrets of ${failed} of ${domains} domain(s): ${which} ` +
    '(wrong VOICE_AI_ENCRYPTION_KEY, or secrets written with another key)'
  );
}

export interface KeyCheckOptions {
  sql: Db;
  key: string | undefined;
  /** How long a verdict is reused; default 60 000. A provider change notification drops it sooner. */
  ttlMs?: number;
  clock?: Clock;
}

export interface KeyCheck {
  /**
   * The current verdict: cached, else computed (concurrent callers share one run). When the database fails,
   * the last verdict stands; with none yet, a failed verdict saying it could not be verified.
   */
  verdict(signal?: AbortSignal): Promise<KeyVerdict>;
  /** Drops the cached verdict (a provider row changed, or notifications may have been missed). */
  invalidate(): void;
}

export function createKeyCheck(opts: KeyCheckOptions): KeyCheck {
  const clock = opts.clock ?? systemClock;
  const ttlMs = opts.ttlMs ?? 60_000;
  const memo = new Map<string, boolean>();
  let cached: { verdict: KeyVerdict; expiresAtMs: number; gen: number } | undefined;
  let last: KeyVerdict | undefined;
  let running: { promise: Promise<KeyVerdict>; gen: number } | undefined;
  let gen = 0;

  function run(): Promise<KeyVerdict> {
    const startGen = gen;
    const promise = verifyKey(opts.sql, opts.key, { memo }).then(
      (verdict) => {
        last = verdict;
        // A change notified while this ran may not be in what it read: do not keep it past this answer.
        if (startGen === gen) cached = { verdict, expiresAtMs: clock.monotonicMs() + ttlMs, gen: startGen };
        return verdict;
      },
      (err: unknown) => {
        if (last !== undefined) return last;
        const why = err instanceof Error ? err.message : String(err);
        return unverified(why);
      },
    );
    running = { promise, gen: startGen };
    void promise.finally(() => {
      if (running?.promise === promise) running = undefined;
    });
    return promise;
  }

  return {
    verdict(signal) {
      if (cached !== undefined && cached.gen === gen && cached.expiresAtMs > clock.monotonicMs()) {
        return Promise.resolve(cached.verdict);
      }
      const promise = running !== undefined && running.gen === gen ? running.promise : run();
      if (signal === undefined) return promise;
      // The run is shared: an impatient caller stops waiting, the run goes on for the next one.
      return new Promise<KeyVerdict>((resolve, reject) => {
        const onAbort = (): void => reject(signal.reason as Error);
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        void promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
      });
    },
    invalidate() {
      gen++;
      cached = undefined;
    },
  };
}

function unverified(why: string): KeyVerdict {
  return {
    ok: false,
    domains: 0,
    failed: 0,
    failedDomains: [],
    detail: `not verified yet: ${why}`,
  };
}
