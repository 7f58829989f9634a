import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Value recorded instead of a label value once its label has used up its budget. */
export const OVERFLOW_LABEL_VALUE = 'other';
/** Value recorded for an empty label value (Prometheus treats `x=""` as "no label x"). */
export const EMPTY_LABEL_VALUE = 'unknown';
/** Longer label values are cut: a label is an identifier, not a payload. */
const MAX_LABEL_VALUE_LENGTH = 100;

export interface LabelLimiterOptions {
  /** Distinct values allowed per label name; default 200. */
  maxValues?: number;
  /** Told once per label name, the first time a value is mapped to "other". */
  onOverflow?: (label: string, maxValues: number) => void;
}

/**
 * Bounds the cardinality of free-form label values (domain names, provider names). Every distinct value
 * is a new time series in Prometheus, kept in memory here and on the Prometheus server, forever (until the
 * process restarts). Domains come from the caller's side of the call (`variable_domain_name`,
 * `Caller-Context`): a misconfigured trunk or dialplan spraying random domains would otherwise grow the
 * scrape and the Prometheus head block without limit. The first `maxValues` distinct values per label are
 * kept; every later one is recorded as "other".
 *
 * The mapping is stable: a value admitted once stays admitted, a value refused once stays refused, so an
 * inc() and its matching dec() on a gauge always land on the same series.
 */
export class LabelLimiter {
  readonly maxValues: number;
  private readonly admitted = new Map<string, Set<string>>();
  private readonly overflowed = new Set<string>();
  private readonly onOverflow: ((label: string, maxValues: number) => void) | undefined;

  constructor(opts: LabelLimiterOptions = {}) {
    const max = opts.maxValues ?? 200;
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError(`maxValues must be a positive integer, got ${max}`);
    this.maxValues = max;
    this.onOverflow = opts.onOverflow;
  }

  /** The value to record for `label`: `value` itself while within the budget, "other" beyond it. */
  value(label: string, value: string): string {
    const v = value === '' ? EMPTY_LABEL_VALUE : value.slice(0, MAX_LABEL_VALUE_LENGTH);
    let set = this.admitted.get(label);
    if (!set) {
      set = new Set();
      this.admitted.set(label, set);
    }
    if (set.has(v)) return v;
    if (set.size < this.maxValues) {
      set.add(v);
      return v;
    }
    if (!this.overflowed.has(label)) {
      this.overflowed.add(label);
      try {
        this.onOverflow?.(label, this.maxValues);
      } catch {
        // a broken observer must not break the caller recording a sample
      }
    }
    return OVERFLOW_LABEL_VALUE;
  }

  /** Distinct values admitted so far for `label`. */
  size(label: string): number {
    return this.admitted.get(label)?.size ?? 0;
  }
}

export type TurnStage = 'stt' | 'llm_first_token' | 'tts_first_byte' | 'turn';

export interface WriteQueueGaugeStats {
  /** Rows in memory, waiting or being written. */
  depth: number;
  /** Rows in the spool file, waiting for Postgres. */
  spooledRows: number;
}

export interface EslStats {
  connected: boolean;
  /** Cumulative reconnections of the inbound connection (it only ever grows). */
  reconnects: number;
}

export interface OutboundStats {
  /** Connections open on the outbound socket server, handshakes included. */
  connections: number;
  /** Of those, the ones still in the handshake. */
  handshakes: number;
  /** Bytes held for incomplete frames over all of them. */
  bufferedBytes: number;
}

export interface DirectoryStaleStats {
  /** Cumulative lookups answered with an expired entry while the database was unreachable. */
  staleServed: number;
  databaseUnreachable: boolean;
}

export interface ProviderErrorSample {
  /** The provider's name ('openai', 'groq', …). */
  vendor: string;
  /** 'stt', 'llm', 'tts', … */
  kind: string;
  /** HTTP status when the vendor answered; absent for network failures and timeouts. */
  status?: number | undefined;
}

export interface MetricsOptions {
  /** Distinct values per free-form label; default 200. */
  maxLabelValues?: number;
  /** Warned once per label that overflows. */
  log?: Logger;
  /** Process, heap, GC and event-loop-lag metrics; default true. */
  defaultMetrics?: boolean;
}

/** The daemon's Prometheus series, on a registry of its own (never prom-client's global one). */
export interface Metrics {
  readonly registry: Registry;
  readonly labels: LabelLimiter;
  /** Content-Type of `render()`'s text. */
  readonly contentType: string;
  /** The exposition text of every series. */
  render(): Promise<string>;
  callStarted(domain: string): void;
  /** Ends a call `callStarted` counted; `resolution` is how it ended (answered, transferred, hangup, …). */
  callEnded(domain: string, resolution: string): void;
  observeTurnStage(stage: TurnStage, provider: string, durationMs: number): void;
  providerError(sample: ProviderErrorSample): void;
  observeWriteQueueFlush(durationMs: number): void;
  /** Read at every scrape; `undefined` detaches. A source that throws leaves the gauges as they were. */
  setWriteQueueSource(source: (() => WriteQueueGaugeStats) | undefined): void;
  /** Read at every scrape; `undefined` detaches. A source that throws leaves the series as they were. */
  setEslSource(source: (() => EslStats) | undefined): void;
  /** A connection the outbound server closed for `reason` (a fixed set: frame_too_large, buffer_budget, …). */
  outboundRejected(reason: string): void;
  /** Read at every scrape; `undefined` detaches. A source that throws leaves the gauges as they were. */
  setOutboundSource(source: (() => OutboundStats) | undefined): void;
  /** Read at every scrape; `undefined` detaches. A source that throws leaves the series as they were. */
  setDirectorySource(source: (() => DirectoryStaleStats) | undefined): void;
}

/** Turn stages run from tens of milliseconds (a cached TTS byte) to several seconds (a slow LLM). */
const TURN_BUCKETS_SECONDS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10];
/** A healthy multi-row insert takes milliseconds; seconds mean Postgres is struggling. */
const FLUSH_BUCKETS_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Creates a registry with default process metrics and the daemon's `voice_ai_*` series. */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const { log } = opts;
  const labels = new LabelLimiter({
    ...(opts.maxLabelValues === undefined ? {} : { maxValues: opts.maxLabelValues }),
    onOverflow: (label, maxValues) =>
      log?.warn(
        { label, maxValues },
        'metric label has too many distinct values; recording the rest as "other"',
      ),
  });
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  let writeQueueSource: (() => WriteQueueGaugeStats) | undefined;
  let eslSource: (() => EslStats) | undefined;
  let eslReconnectsSeen = 0;
  let outboundSource: (() => OutboundStats) | undefined;
  let directorySource: (() => DirectoryStaleStats) | undefined;
  let directoryStaleSeen = 0;
  /** Each series reads its source at scrape time; a broken source must not fail the whole scrape. */
  const read = <T>(source: (() => T) | undefined): T | undefined => {
    if (!source) return undefined;
    try {
      return source();
    } catch {
      return undefined;
    }
  };

  const callsActive = new Gauge({
    name: 'voice_ai_calls_active',
    help: 'Calls in progress, by domain name.',
    labelNames: ['domain'] as const,
    registers,
  });
  const callsTotal = new Counter({
    name: 'voice_ai_calls_total',
    help: 'Calls finished, by domain name and how they ended.',
    labelNames: ['domain', 'resolution'] as const,
    registers,
  });
  const turnStage = new Histogram({
    name: 'voice_ai_turn_stage_seconds',
    help: 'Latency of each stage of a conversation turn, by provider.',
    labelNames: ['stage', 'provider'] as const,
    buckets: TURN_BUCKETS_SECONDS,
    registers,
  });
  const providerErrors = new Counter({
    name: 'voice_ai_provider_errors_total',
    help: 'Failed provider attempts, by vendor, kind and HTTP status ("none" when the vendor never answered).',
    labelNames: ['vendor', 'kind', 'status'] as const,
    registers,
  });
  const queueDepth = new Gauge({
    name: 'voice_ai_write_queue_depth',
    help: 'Rows waiting in memory to be written to Postgres.',
    registers,
    collect: () => {
      const s = read(writeQueueSource);
      if (s) queueDepth.set(s.depth);
    },
  });
  const queueSpooled = new Gauge({
    name: 'voice_ai_write_queue_spooled_rows',
    help: 'Rows in the spool file, waiting for Postgres to come back.',
    registers,
    collect: () => {
      const s = read(writeQueueSource);
      if (s) queueSpooled.set(s.spooledRows);
    },
  });
  const queueFlush = new Histogram({
    name: 'voice_ai_write_queue_flush_seconds',
    help: 'Duration of batch writes to Postgres.',
    buckets: FLUSH_BUCKETS_SECONDS,
    registers,
  });
  const eslConnected = new Gauge({
    name: 'voice_ai_esl_connected',
    help: '1 while the inbound ESL connection to FreeSWITCH is up, else 0.',
    registers,
    collect: () => {
      const s = read(eslSource);
      if (s) eslConnected.set(s.connected ? 1 : 0);
    },
  });
  const eslReconnects = new Counter({
    name: 'voice_ai_esl_reconnects_total',
    help: 'Reconnections of the inbound ESL connection.',
    registers,
    collect: () => {
      const s = read(eslSource);
      if (!s) return;
      // The source counts cumulatively; a counter only moves forward, so add what is new since last scrape.
      if (s.reconnects > eslReconnectsSeen) eslReconnects.inc(s.reconnects - eslReconnectsSeen);
      eslReconnectsSeen = Math.max(eslReconnectsSeen, s.reconnects);
    },
  });

  const outboundRejected = new Counter({
    name: 'voice_ai_outbound_rejected_total',
    help: 'Connections the outbound socket server closed instead of serving, by reason (limits, bad frames, failed handshakes).',
    labelNames: ['reason'] as const,
    registers,
  });
  const outboundGauge = (name: string, help: string, pick: (s: OutboundStats) => number): Gauge => {
    const g: Gauge = new Gauge({
      name,
      help,
      registers,
      collect: () => {
        const s = read(outboundSource);
        if (s) g.set(pick(s));
      },
    });
    return g;
  };
  outboundGauge(
    'voice_ai_outbound_connections',
    'Connections open on the outbound socket server, handshakes included.',
    (s) => s.connections,
  );
  outboundGauge(
    'voice_ai_outbound_handshakes',
    'Outbound connections whose handshake has not completed.',
    (s) => s.handshakes,
  );
  outboundGauge(
    'voice_ai_outbound_buffered_bytes',
    'Bytes held for incomplete frames over all outbound connections.',
    (s) => s.bufferedBytes,
  );
  const directoryStale = new Counter({
    name: 'voice_ai_directory_stale_served_total',
    help: 'Secretary, provider and domain lookups answered from an expired cache entry while Postgres was unreachable.',
    registers,
    collect: () => {
      const s = read(directorySource);
      if (!s) return;
      if (s.staleServed > directoryStaleSeen) directoryStale.inc(s.staleServed - directoryStaleSeen);
      directoryStaleSeen = Math.max(directoryStaleSeen, s.staleServed);
    },
  });
  const directoryUnreachable = new Gauge({
    name: 'voice_ai_directory_database_unreachable',
    help: '1 while the directory serves lookups from its cache because Postgres is unreachable, else 0.',
    registers,
    collect: () => {
      const s = read(directorySource);
      if (s) directoryUnreachable.set(s.databaseUnreachable ? 1 : 0);
    },
  });

  const seconds = (ms: number): number | undefined =>
    Number.isFinite(ms) && ms >= 0 ? ms / 1000 : undefined;

  return {
    registry,
    labels,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    callStarted(domain) {
      callsActive.inc({ domain: labels.value('domain', domain) });
    },
    callEnded(domain, resolution) {
      const d = labels.value('domain', domain);
      callsActive.dec({ domain: d });
      callsTotal.inc({ domain: d, resolution: labels.value('resolution', resolution) });
    },
    observeTurnStage(stage, provider, durationMs) {
      const s = seconds(durationMs);
      if (s !== undefined) turnStage.observe({ stage, provider: labels.value('provider', provider) }, s);
    },
    providerError(sample) {
      const { status } = sample;
      providerErrors.inc({
        // Vendors share the provider budget: both are provider names.
        vendor: labels.value('provider', sample.vendor),
        kind: labels.value('kind', sample.kind),
        status:
          status === undefined
            ? 'none'
            : Number.isInteger(status) && status >= 100 && status <= 599
              ? String(status)
              : OVERFLOW_LABEL_VALUE,
      });
    },
    observeWriteQueueFlush(durationMs) {
      const s = seconds(durationMs);
      if (s !== undefined) queueFlush.observe(s);
    },
    setWriteQueueSource(source) {
      writeQueueSource = source;
    },
    setEslSource(source) {
      eslSource = source;
      // A new source (a new connection object) counts from zero again.
      eslReconnectsSeen = 0;
    },
    outboundRejected(reason) {
      outboundRejected.inc({ reason: labels.value('outbound_reason', reason) });
    },
    setOutboundSource(source) {
      outboundSource = source;
    },
    setDirectorySource(source) {
      directorySource = source;
      directoryStaleSeen = 0;
    },
  };
}
