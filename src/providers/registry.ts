import type { Logger } from 'pino';
import { InvalidInputError } from '../core/errors.js';
import { createOpenAiEmbeddings } from './embeddings/openai.js';
import { createOpenAiLlm } from './llm/openai.js';
import { createLocalProvider, isLocalProviderName } from './local/index.js';
import {
  openAiCompatible,
  openAiConfigFromRow,
  optionalPositive,
  type OpenAiConfig,
} from './openai-compatible.js';
import { createDeepgramStt, deepgramConfigFromRow } from './stt/deepgram.js';
import { createDeepgramFluxStt, isFluxModel } from './stt/deepgram-flux.js';
import { createOpenAiStt } from './stt/openai.js';
import type { FetchFn } from './transport/http.js';
import { createOpenAiTts } from './tts/openai.js';
import { createOpenAiRealtimeTts, isRealtimeModel } from './tts/openai-realtime.js';
import type { BuildableKind, ProviderByKind, ProviderRow } from './types.js';
import { withFallback } from './wrap/fallback.js';
import { withMetrics, type ProviderSample } from './wrap/metrics.js';
import { withRetry, type RetryOptions } from './wrap/retry.js';
import { withTimeout, type TimeoutOptions } from './wrap/timeout.js';

export interface ProviderRegistryOptions {
  log: Logger;
  /** Defaults to the global fetch (undici). */
  fetch?: FetchFn;
  /** Per kind, merged over the defaults; a row's config.timeout_ms / first_byte_timeout_ms win over both. */
  timeouts?: Partial<Record<BuildableKind, TimeoutOptions>>;
  retry?: Omit<RetryOptions, 'log'>;
  /** Receives one sample per attempt of every provider built (for http/ metrics). */
  onSample?: (sample: ProviderSample) => void;
}

export interface ProviderRegistry {
  /**
   * One provider of `kind` from a domain's rows: `preferredUuid` (the secretary's own choice) first, then the
   * default, then by priority; each adapter wrapped with timeout, metrics and retry, chained by fallback. Broken
   * rows are logged and skipped; InvalidInputError (naming every row and its problem) when none is usable.
   */
  build<K extends BuildableKind>(
    rows: readonly ProviderRow[],
    kind: K,
    opts?: { preferredUuid?: string | null },
  ): ProviderByKind[K];
}

/** Phone-call budgets: a caller waits in silence while these run. */
const DEFAULT_TIMEOUTS: Record<BuildableKind, TimeoutOptions> = {
  stt: { timeoutMs: 15_000 },
  llm: { firstByteTimeoutMs: 10_000, idleTimeoutMs: 15_000, timeoutMs: 60_000 },
  tts: { firstByteTimeoutMs: 8_000, idleTimeoutMs: 15_000, timeoutMs: 60_000 },
  embeddings: { timeoutMs: 30_000 },
};

/** Waiting longer than this for a rate limit is worse, mid-call, than moving to the next provider. */
const DEFAULT_MAX_RETRY_AFTER_MS = 10_000;

const OPENAI_ADAPTERS: { [K in BuildableKind]: (config: OpenAiConfig) => ProviderByKind[K] } = {
  stt: createOpenAiStt,
  llm: createOpenAiLlm,
  // OpenAI's /audio/speech models shut down on 2027-01-06; its realtime models speak over the Realtime API.
  // Imitators (LocalAI, speaches) keep /audio/speech whatever their models are called.
  tts: (config) =>
    config.info.vendor === 'openai' && isRealtimeModel(config.info.model)
      ? createOpenAiRealtimeTts(config)
      : createOpenAiTts(config),
  embeddings: createOpenAiEmbeddings,
};

/** The OpenAI-compatible adapter for `kind`, unwrapped; building it only validates (no request is made). */
export function createOpenAiAdapter<K extends BuildableKind>(
  kind: K,
  config: OpenAiConfig,
): ProviderByKind[K] {
  return OPENAI_ADAPTERS[kind](config);
}

/** Deepgram serves speech recognition here: Flux models on /v2/listen, the rest (nova-3) on /v1/listen. */
function createDeepgramAdapter<K extends BuildableKind>(row: ProviderRow, kind: K): ProviderByKind[K] {
  if (kind !== 'stt') {
    throw new InvalidInputError(`provider ${row.provider_uuid}: deepgram is supported for stt only`);
  }
  const config = deepgramConfigFromRow(row);
  const stt = isFluxModel(config.info.model) ? createDeepgramFluxStt(config) : createDeepgramStt(config);
  return stt as ProviderByKind[K];
}

export function createProviderRegistry(opts: ProviderRegistryOptions): ProviderRegistry {
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const onSample = opts.onSample ?? (() => undefined);

  const buildOne = <K extends BuildableKind>(row: ProviderRow, kind: K): ProviderByKind[K] => {
    const local = isLocalProviderName(row.provider_name);
    const deepgram = row.provider_name === 'deepgram';
    if (!local && !deepgram && openAiCompatible(row.provider_name) === undefined) {
      throw new InvalidInputError(
        `provider ${row.provider_uuid}: unknown provider_name '${row.provider_name}'`,
      );
    }
    const where = `provider ${row.provider_uuid} (${row.provider_name} ${kind})`;
    const adapter = local
      ? createLocalProvider(row, kind)
      : deepgram
        ? createDeepgramAdapter(row, kind)
        : createOpenAiAdapter(kind, openAiConfigFromRow(row, kind, fetchFn));
    const timeoutMs = optionalPositive(row.config, 'timeout_ms', where);
    const firstByteTimeoutMs = optionalPositive(row.config, 'first_byte_timeout_ms', where);
    const timeouts: TimeoutOptions = {
      ...DEFAULT_TIMEOUTS[kind],
      ...opts.timeouts?.[kind],
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(firstByteTimeoutMs === undefined ? {} : { firstByteTimeoutMs }),
    };
    const log = opts.log.child({ domainUuid: row.domain_uuid, providerUuid: row.provider_uuid });
    // Timeout per attempt, a metrics sample per attempt (so every 429 counts), retries around both.
    return withRetry(withMetrics(withTimeout(adapter, timeouts), onSample), {
      maxRetryAfterMs: DEFAULT_MAX_RETRY_AFTER_MS,
      ...opts.retry,
      log,
    });
  };

  return {
    build<K extends BuildableKind>(
      rows: readonly ProviderRow[],
      kind: K,
      buildOpts: { preferredUuid?: string | null } = {},
    ): ProviderByKind[K] {
      const rank = (r: ProviderRow): number =>
        r.provider_uuid === buildOpts.preferredUuid ? 0 : r.is_default ? 1 : 2;
      const candidates = rows
        .filter((r) => r.provider_type === kind && r.is_enabled !== false)
        .sort((a, b) => rank(a) - rank(b) || a.priority - b.priority);
      const built: ProviderByKind[K][] = [];
      const problems: string[] = [];
      for (const row of candidates) {
        let provider: ProviderByKind[K];
        try {
          provider = buildOne(row, kind);
        } catch (err) {
          if (!(err instanceof InvalidInputError)) throw err;
          problems.push(err.message);
          opts.log.warn(
            {
              domainUuid: row.domain_uuid,
              providerUuid: row.provider_uuid,
              vendor: row.provider_name,
              kind,
              reason: err.message,
            },
            'provider row skipped',
          );
          continue;
        }
        const mismatch = kind === 'embeddings' ? embeddingsMismatch(built[0], provider) : undefined;
        if (mismatch !== undefined) {
          opts.log.warn(
            {
              domainUuid: row.domain_uuid,
              providerUuid: row.provider_uuid,
              vendor: row.provider_name,
              kind,
              reason: mismatch,
            },
            'provider row skipped',
          );
          continue;
        }
        built.push(provider);
      }
      if (built.length === 0) {
        const why = problems.length > 0 ? `: ${problems.join('; ')}` : ' is configured';
        throw new InvalidInputError(`no usable ${kind} provider${why}`);
      }
      return withFallback(built, { log: opts.log });
    },
  };
}

/**
 * Vectors from different models cannot be compared with the ones already stored, so embeddings fall back
 * only to a provider serving the same model and dimensions (another endpoint for it, say).
 */
function embeddingsMismatch(
  first: ProviderByKind[BuildableKind] | undefined,
  next: ProviderByKind[BuildableKind],
) {
  if (first === undefined) return undefined;
  const dims = (p: object): unknown => (p as { dimensions?: unknown }).dimensions;
  if (first.info.model !== next.info.model || dims(first) !== dims(next)) {
    return `embeddings fallback must use the same model and dimensions as ${first.info.vendor} ${first.info.model}`;
  }
  return undefined;
}
