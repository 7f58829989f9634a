import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type postgres from 'postgres';
import { systemClock, type Clock } from '../core/clock.js';
import { isUuid } from './repos/helpers.js';
import { createProvidersRepo } from './repos/providers.js';
import { createSecretariesRepo } from './repos/secretaries.js';
import type {
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
  size: number;
}

export interface Directory {
  /** Resolves once LISTEN is active, from then on changes made by anyone drop cached entries. */
  ready(): Promise<void>;
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

/**
 * Cached, LISTEN-invalidated lookups for the call path. A hit is one LRU get plus two integer compares.
 *
 * Invalidation is by generation rather than by deleting keys: a notification bumps its domain's generation,
 * which makes every entry of that domain stale at once (secretaries embed provider names, so a provider change
 * concerns them too), including the result of a query that was in flight when the change committed.
 */
export function createDirectory(opts: DirectoryOptions): Directory {
  const { sql, log } = opts;
  const clock = opts.clock ?? systemClock;
  const ttlMs = opts.ttlMs ?? 60_000;
  const negativeTtlMs = opts.negativeTtlMs ?? 5_000;
  const secretaries = createSecretariesRepo(sql);
  const providers = createProvidersRepo(sql);
  const lru = new LRUCache<string, Entry>({ max: opts.max ?? 10_000 });
  const inflight = new Map<string, Inflight>();
  const domainGen = new Map<string, number>();
  let epoch = 0;
  let closed = false;
  const counters = { hits: 0, misses: 0, loads: 0, invalidations: 0, resets: 0, listens: 0 };

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

  function lookup<V>(
    domainUuid: string,
    key: string,
    load: () => Promise<V | undefined>,
  ): Promise<V | undefined> {
    const gen = genOf(domainUuid);
    const entry = lru.get(key);
    if (
      entry !== undefined &&
      entry.epoch === epoch &&
      entry.gen === gen &&
      entry.expiresAtMs > clock.monotonicMs()
    ) {
      counters.hits++;
      return Promise.resolve(entry.value as V | undefined);
    }
    counters.misses++;
    const running = inflight.get(key);
    if (running !== undefined && running.epoch === epoch && running.gen === gen) {
      return running.promise as Promise<V | undefined>;
    }
    counters.loads++;
    const startEpoch = epoch;
    const promise = load().then(
      (value) => {
        if (inflight.get(key)?.promise === promise) inflight.delete(key);
        if (!closed && startEpoch === epoch && gen === genOf(domainUuid)) {
          const ttl = value === undefined ? negativeTtlMs : ttlMs;
          lru.set(key, {
            value: deepFreeze(value),
            expiresAtMs: clock.monotonicMs() + ttl,
            epoch: startEpoch,
            gen,
          });
        }
        return value;
      },
      (err: unknown) => {
        if (inflight.get(key)?.promise === promise) inflight.delete(key);
        throw err;
      },
    );
    inflight.set(key, { promise, epoch: startEpoch, gen });
    return promise;
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

    stats: () => ({ ...counters, size: lru.size }),

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
