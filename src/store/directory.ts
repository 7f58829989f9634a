import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type postgres from 'postgres';
import { systemClock, type Clock } from '../core/clock.js';
import { isConnectionError } from './db.js';
import { createDomainsRepo } from './repos/domains.js';
import { isUuid } from './repos/helpers.js';
import { createProvidersRepo } from './repos/providers.js';
import { createSecretariesRepo } from './repos/secretaries.js';
import type {
  DomainRow,
  ProviderRow,
  ProviderType,
  ProviderWithSecrets,
  SecretaryWithProviders,
} from './repos/types.js';

/** The channel sql/008_change_notify.sql notifies on, with payload '<table>:<domain_uuid>:<row uuid>'. */
export const CHANGES_CHANNEL = 'voice_ai_changes';

export interface DirectoryOptions {
  /** The pool lookups run on; also used for LISTEN unless `listenSql` is given. */
  sql: postgres.Sql;
  /** Where to LISTEN (postgres.js opens one dedicated connection on it). Default: `sql`. */
  listenSql?: postgres.Sql;
  /** How long an entry lives when no notification drops it first. Default 60 000. */
  ttlMs?: number;
  /** How long "no such secretary/provider" is remembered. Default 5 000. */
  negativeTtlMs?: number;
  /**
   * While the database is unreachable, a found entry is served past its TTL for up to this long after it was
   * loaded (0: never). Default 3 600 000 (VOICE_AI_DIRECTORY_STALE_MAX_MS).
   */
  staleMaxMs?: number;
  /** Entries kept. Default 10 000. */
  max?: number;
  /** Key that opens provider secrets; `providerByUuid` throws SecretKeyError without it. */
  encryptionKey?: string | undefined;
  /**
   * Called when a provider row changed (notified) or the cache was reset (notifications may have been
   * missed): whoever caches facts about providers outside the directory (the key check) drops them.
   */
  onProvidersChanged?: () => void;
  clock?: Clock;
  log: Logger;
}

export interface DirectoryStats {
  hits: number;
  misses: number;
  /** Queries run for misses (fewer than misses when concurrent misses were coalesced). */
  loads: number;
  /** Notifications that dropped a domain's entries. */
  invalidations: number;
  /** Whole-cache clears: every (re)established LISTEN, since notifications may have been missed meanwhile. */
  resets: number;
  /** Times LISTEN became active (1 after start, +1 per reconnection). */
  listens: number;
  /** Lookups answered with an expired entry because the database was unreachable. */
  staleServed: number;
  /** True from a lookup's connection error until a lookup succeeds again. */
  databaseUnreachable: boolean;
  size: number;
}

export interface Directory {
  /** Resolves once LISTEN is active, from then on changes made by anyone drop cached entries. */
  ready(): Promise<void>;
  /** The domain (enabled or not: the caller decides), or undefined. */
  domainByUuid(domainUuid: string): Promise<DomainRow | undefined>;
  /** The domain of that name, case-insensitively (the oldest if several), or undefined. */
  domainByName(domainName: string): Promise<DomainRow | undefined>;
  /** The enabled secretary answering `extension` in the domain (with its providers' names), or undefined. */
  secretaryByExtension(domainUuid: string, extension: string): Promise<SecretaryWithProviders | undefined>;
  /** The secretary if it exists in the domain and is enabled. */
  secretaryByUuid(domainUuid: string, secretaryUuid: string): Promise<SecretaryWithProviders | undefined>;
  /** The provider of the domain with its secrets decrypted (enabled or not: the caller decides). */
  providerByUuid(domainUuid: string, providerUuid: string): Promise<ProviderWithSecrets | undefined>;
  /** The domain's enabled providers of a type, in the order to try them (default, priority, age); no secrets. */
  providersFor(domainUuid: string, type: ProviderType): Promise<readonly ProviderRow[]>;
  stats(): DirectoryStats;
  /** Stops listening and empties the cache; idempotent. Does not end the pools it was given. */
  close(): Promise<void>;
}

interface Entry {
  value: unknown;
  expiresAtMs: number;
  /** Monotonic time of the load: how stale the entry is. */
  loadedAtMs: number;
  /** The cache epoch and the domain's generation when the load started: a later bump makes it stale. */
  epoch: number;
  gen: number;
}

interface Inflight {
  promise: Promise<unknown>;
  epoch: number;
  gen: number;
}

const PROVIDERS_TABLE = 'v_voice_ai_providers';
const EXTENSION_RE = /^[0-9*#+]{1,32}$/;
/** FusionPBX domain names are host names (at most 253 characters); a longer one cannot match, nor be a key. */
const MAX_DOMAIN_NAME_LENGTH = 255;
/**
 * The generation slot of domain lookups. v_domains belongs to FusionPBX and we add no trigger to it, so no
 * notification ever bumps this: domain entries live for their TTL (a disabled domain stops taking AI calls
 * within ttlMs), and only a LISTEN reset clears them early.
 */
const DOMAINS_SLOT = 'v_domains';

/**
 * Cached, LISTEN-invalidated lookups for the call path. A hit is one LRU get plus two integer compares.
 *
 * Invalidation is by generation rather than by deleting keys: a notification bumps its domain's generation,
 * which makes every entry of that domain stale at once (secretaries embed provider names, so a provider change
 * concerns them too), including the result of a query that was in flight when the change committed.
 *
 * While the database is unreachable (a load fails with a connection error) an expired entry younger than
 * `staleMaxMs` is served instead of failing the call: calls go on during an outage with what was known
 * before it. From then until a load succeeds, such entries are answered at once and refreshed in the
 * background, so a database that times out rather than refuses does not add its connect timeout to every
 * lookup of every call.
 */
export function createDirectory(opts: DirectoryOptions): Directory {
  const { sql, log } = opts;
  const clock = opts.clock ?? systemClock;
  const ttlMs = opts.ttlMs ?? 60_000;
  const negativeTtlMs = opts.negativeTtlMs ?? 5_000;
  const staleMaxMs = opts.staleMaxMs ?? 3_600_000;
  const domains = createDomainsRepo(sql);
  const secretaries = createSecretariesRepo(sql);
  const providers = createProvidersRepo(sql);
  const lru = new LRUCache<string, Entry>({ max: opts.max ?? 10_000 });
  const inflight = new Map<string, Inflight>();
  const domainGen = new Map<string, number>();
  let epoch = 0;
  let closed = false;
  const counters = {
    hits: 0,
    misses: 0,
    loads: 0,
    invalidations: 0,
    resets: 0,
    listens: 0,
    staleServed: 0,
  };
  /** Set by a load's connection error, cleared by a load that succeeds. */
  let outage: { sinceMs: number; staleServed: number } | undefined;
  /** Loads are numbered; a failure of a load started before the last success is old news, not an outage. */
  let loadSeq = 0;
  let answeredAtSeq = 0;

  const genOf = (domainUuid: string): number => domainGen.get(domainUuid) ?? 0;

  function reset(): void {
    epoch++;
    counters.resets++;
    lru.clear();
    inflight.clear();
    domainGen.clear();
    opts.onProvidersChanged?.();
  }

  function invalidateDomain(domainUuid: string): void {
    counters.invalidations++;
    domainGen.set(domainUuid, genOf(domainUuid) + 1);
  }

  /**
   * An expired entry that may stand in for a load the database could not answer. Only found values:
   * a remembered absence ("no such secretary") would fail the call open just as the failed load does, but
   * under a log line that sends the operator to the configuration instead of the database; and absence is
   * what changes right before someone expects a new secretary to answer, which is why its TTL is short.
   * Entries a notification made stale are not served either (see `lookup`).
   */
  function staleFallback(entry: Entry | undefined, nowMs: number): Entry | undefined {
    return entry !== undefined && entry.value !== undefined && nowMs - entry.loadedAtMs <= staleMaxMs
      ? entry
      : undefined;
  }

  function serveStale<V>(entry: Entry, key: string): V | undefined {
    counters.staleServed++;
    if (outage !== undefined && outage.staleServed++ === 0) {
      log.warn(
        { key, ageMs: Math.round(clock.monotonicMs() - entry.loadedAtMs), staleMaxMs },
        'directory serving stale entries',
      );
    }
    return entry.value as V | undefined;
  }

  function load<V>(
    domainUuid: string,
    key: string,
    gen: number,
    query: () => Promise<V | undefined>,
  ): Promise<V | undefined> {
    const running = inflight.get(key);
    if (running !== undefined && running.epoch === epoch && running.gen === gen) {
      return running.promise as Promise<V | undefined>;
    }
    counters.loads++;
    const startEpoch = epoch;
    const seq = ++loadSeq;
    const promise = query().then(
      (value) => {
        if (inflight.get(key)?.promise === promise) inflight.delete(key);
        answeredAtSeq = loadSeq;
        if (outage !== undefined) {
          log.info(
            {
              outageMs: Math.round(clock.monotonicMs() - outage.sinceMs),
              staleServed: outage.staleServed,
            },
            'directory: database answering again',
          );
          outage = undefined;
        }
        if (!closed && startEpoch === epoch && gen === genOf(domainUuid)) {
          const nowMs = clock.monotonicMs();
          const ttl = value === undefined ? negativeTtlMs : ttlMs;
          lru.set(key, {
            value: deepFreeze(value),
            expiresAtMs: nowMs + ttl,
            loadedAtMs: nowMs,
            epoch: startEpoch,
            gen,
          });
        }
        return value;
      },
      (err: unknown) => {
        if (inflight.get(key)?.promise === promise) inflight.delete(key);
        if (outage === undefined && !closed && seq > answeredAtSeq && isConnectionError(err)) {
          outage = { sinceMs: clock.monotonicMs(), staleServed: 0 };
        }
        throw err;
      },
    );
    inflight.set(key, { promise, epoch: startEpoch, gen });
    return promise;
  }

  function lookup<V>(
    domainUuid: string,
    key: string,
    query: () => Promise<V | undefined>,
  ): Promise<V | undefined> {
    const gen = genOf(domainUuid);
    const nowMs = clock.monotonicMs();
    const entry = lru.get(key);
    // An entry of an older generation is known to be outdated (a change was notified since it was loaded):
    // answering a call with a secretary the operator has just disabled is worse than failing open.
    const current = entry !== undefined && entry.epoch === epoch && entry.gen === gen ? entry : undefined;
    if (current !== undefined && current.expiresAtMs > nowMs) {
      counters.hits++;
      return Promise.resolve(current.value as V | undefined);
    }
    counters.misses++;
    const fallback = staleFallback(current, nowMs);
    if (fallback !== undefined && outage !== undefined) {
      load(domainUuid, key, gen, query).catch(() => undefined);
      return Promise.resolve(serveStale<V>(fallback, key));
    }
    const loading = load(domainUuid, key, gen, query);
    if (fallback === undefined) return loading;
    return loading.catch((err: unknown) => {
      if (!closed && isConnectionError(err)) return serveStale<V>(fallback, key);
      throw err;
    });
  }

  function onNotify(payload: string): void {
    if (closed) return;
    const [table, domainUuid] = payload.split(':');
    if (table === undefined || domainUuid === undefined || !isUuid(domainUuid)) {
      log.warn({ payload }, 'directory: unexpected change notification; clearing the cache');
      reset();
      return;
    }
    invalidateDomain(domainUuid);
    if (table === PROVIDERS_TABLE) opts.onProvidersChanged?.();
    log.debug({ table, domain_uuid: domainUuid }, 'directory: change notified');
  }

  let markReady: () => void = () => undefined;
  const readyPromise = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  // postgres.js re-runs LISTEN by itself after its connection drops (with backoff) and calls onListen again;
  // until then entries expire by TTL. Whatever changed in between was not notified, so every (re)listen
  // starts from an empty cache.
  function onListen(): void {
    if (closed) return;
    counters.listens++;
    reset();
    if (counters.listens > 1)
      log.info({ listens: counters.listens }, 'directory: LISTEN re-established; cache cleared');
    markReady();
  }

  let listenMeta: postgres.ListenMeta | undefined;
  const unlisten = async (meta: postgres.ListenMeta): Promise<void> => {
    // After a reconnection postgres.js holds a new listener object that this does not remove; the `closed`
    // flag makes it inert either way.
    await meta.unlisten().catch((err: unknown) => log.warn({ err }, 'directory: UNLISTEN failed'));
  };
  (opts.listenSql ?? sql).listen(CHANGES_CHANNEL, onNotify, onListen).then(
    (meta) => {
      listenMeta = meta;
      if (closed) void unlisten(meta);
    },
    (err: unknown) => {
      // postgres.js keeps retrying the LISTEN by itself; onListen will run when it succeeds.
      log.warn({ err }, 'directory: LISTEN failed; entries expire by TTL until it is re-established');
    },
  );

  let closing: Promise<void> | undefined;

  return {
    ready: () => readyPromise,

    domainByUuid(domainUuid) {
      if (!isUuid(domainUuid)) return Promise.resolve(undefined);
      return lookup(DOMAINS_SLOT, `dom|uuid|${domainUuid.toLowerCase()}`, () =>
        domains.findByUuid(domainUuid),
      );
    },

    domainByName(domainName) {
      if (domainName === '' || domainName.length > MAX_DOMAIN_NAME_LENGTH) return Promise.resolve(undefined);
      return lookup(DOMAINS_SLOT, `dom|name|${domainName.toLowerCase()}`, () =>
        domains.findByName(domainName),
      );
    },

    secretaryByExtension(domainUuid, extension) {
      if (!isUuid(domainUuid) || !EXTENSION_RE.test(extension)) return Promise.resolve(undefined);
      return lookup(domainUuid, `${domainUuid}|ext|${extension}`, () =>
        secretaries.findByExtension(domainUuid, extension),
      );
    },

    secretaryByUuid(domainUuid, secretaryUuid) {
      if (!isUuid(domainUuid) || !isUuid(secretaryUuid)) return Promise.resolve(undefined);
      return lookup(domainUuid, `${domainUuid}|sec|${secretaryUuid}`, () =>
        secretaries.findEnabledByUuid(domainUuid, secretaryUuid),
      );
    },

    providerByUuid(domainUuid, providerUuid) {
      if (!isUuid(domainUuid) || !isUuid(providerUuid)) return Promise.resolve(undefined);
      return lookup(domainUuid, `${domainUuid}|prov|${providerUuid}`, () =>
        providers.getWithSecrets(domainUuid, providerUuid, opts.encryptionKey ?? ''),
      );
    },

    async providersFor(domainUuid, type) {
      if (!isUuid(domainUuid)) return [];
      const rows = await lookup(domainUuid, `${domainUuid}|type|${type}`, () =>
        providers.listEnabledForType(domainUuid, type),
      );
      return rows ?? [];
    },

    stats: () => ({ ...counters, databaseUnreachable: outage !== undefined, size: lru.size }),

    close() {
      closing ??= (async () => {
        closed = true;
        lru.clear();
        inflight.clear();
        // Not waiting for a LISTEN still connecting (a shutdown must not hang on a dead database): when it
        // completes, the handler above sees `closed` and unlistens.
        if (listenMeta !== undefined) await unlisten(listenMeta);
      })();
      return closing;
    },
  };
}

/** Cached values are shared by every caller: freeze them so no caller can change another's view. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value) && !(value instanceof Date)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
