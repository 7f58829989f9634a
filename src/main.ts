import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { createCallHandler } from './calls/call-handler.js';
import type { Config } from './config.js';
import { systemClock, type Clock } from './core/clock.js';
import { StartupError } from './core/errors.js';
import { ReleaseStack } from './core/release-stack.js';
import { PromptCache } from './conversation/speech.js';
import {
  createInboundConnection,
  createOutboundServer,
  type InboundConnection,
  type OutboundServer,
} from './esl/index.js';
import { createMetrics, type Metrics } from './http/metrics.js';
import { startHttpServer, type HttpServer, type ReadinessCheck } from './http/server.js';
import { createProviderRegistry } from './providers/registry.js';
import type { FetchFn } from './providers/transport/http.js';
import { createPool, type Sql } from './store/db.js';
import { createDirectory, type Directory } from './store/directory.js';
import { createKeyCheck } from './store/key-check.js';
import { createWriteQueue, type WriteQueue } from './store/write-queue.js';
import { createSileroClassifiers } from './media/vad.js';

export interface DaemonOptions {
  log: Logger;
  clock?: Clock;
  fetch?: FetchFn;
  /** "One moment" filler after this long waiting on providers (ms). */
  fillerAfterMs?: number;
  /** Spooled rows above which /readyz says not ready (the database has been away too long). */
  spoolLimitRows?: number;
  /** See ReplyRequest.sentenceStreaming (benchmarks only). */
  sentenceStreaming?: boolean;
}

export interface Daemon {
  readonly outboundPort: number;
  readonly sql: Sql;
  readonly queue: WriteQueue;
  readonly directory: Directory;
  readonly inbound: InboundConnection;
  readonly metrics: Metrics;
  readonly httpPort: number;
  /** Calls in progress. */
  activeCalls(): number;
  /** Stops taking calls, lets active ones finish (up to graceMs), flushes rows, closes everything. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

/**
 * The composition root: pool, directory (LRU + LISTEN), write queue (+ spool), provider registry, the inbound
 * ESL connection and the outbound server that receives calls. Resources are released in reverse order.
 */
export async function startDaemon(config: Config, opts: DaemonOptions): Promise<Daemon> {
  const opened = new ReleaseStack();
  const progress = { step: 'directories' };
  try {
    return await assemble(config, opts, opened, progress);
  } catch (err) {
    // systemd restarts us only if we exit: a half-started daemon (call port open, HTTP port taken) must not
    // linger, so release what is open and let the caller exit non-zero (issue 9 item 1).
    await opened.releaseAll(opts.log);
    throw new StartupError(progress.step, err);
  }
}

async function assemble(
  config: Config,
  opts: DaemonOptions,
  opened: ReleaseStack,
  progress: { step: string },
): Promise<Daemon> {
  const { log } = opts;
  const clock = opts.clock ?? systemClock;
  await mkdir(path.join(config.audioDir, 'calls'), { recursive: true, mode: 0o2770 });
  await mkdir(config.spoolDir, { recursive: true, mode: 0o700 });

  progress.step = 'database pool';
  const sql = createPool({
    url: config.databaseUrl ?? '',
    max: config.db.poolMax,
    idleTimeoutSeconds: config.db.idleTimeoutSeconds,
    connectTimeoutSeconds: config.db.connectTimeoutSeconds,
    statementTimeoutMs: config.db.statementTimeoutMs,
  });
  opened.push('database pool', sql, (s) => s.end({ timeout: 5 }));
  progress.step = 'directory cache';
  const keyCheck = createKeyCheck({ sql, key: config.encryptionKey, clock });
  const directory = createDirectory({
    sql,
    log: log.child({ component: 'directory' }),
    encryptionKey: config.encryptionKey,
    staleMaxMs: config.directoryStaleMaxMs,
    onProvidersChanged: () => keyCheck.invalidate(),
    clock,
  });
  opened.push('directory cache', directory, (d) => d.close());
  const metrics = createMetrics({ log: log.child({ component: 'metrics' }) });
  const queue = createWriteQueue({
    sql,
    spoolDir: config.spoolDir,
    log: log.child({ component: 'write-queue' }),
    clock,
    onFlush: (ms) => metrics.observeWriteQueueFlush(ms),
  });
  progress.step = 'write queue';
  await queue.start();
  opened.push('write queue', queue, (q) => q.close());
  metrics.setWriteQueueSource(() => queue.stats());
  metrics.setDirectorySource(() => directory.stats());
  const registry = createProviderRegistry({
    log: log.child({ component: 'providers' }),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    onSample: (sample) => {
      if (sample.outcome === 'error') {
        metrics.providerError({ vendor: sample.vendor, kind: sample.kind, status: sample.status });
      }
    },
  });
  const inbound = createInboundConnection({
    host: config.esl.host,
    port: config.esl.port,
    password: config.esl.password,
    log: log.child({ component: 'esl-inbound' }),
  });
  opened.push('inbound ESL', inbound, (c) => c.close());
  // Not awaited: FreeSWITCH may come up after us; /readyz reports the link and it reconnects on its own.
  void inbound.start();
  metrics.setEslSource(() => ({ connected: inbound.connected, reconnects: inbound.reconnects }));

  // Silero's sessions load on the first full-duplex call at each rate and are shared by every call after it.
  const vad =
    config.media.vad === 'silero' ? createSileroClassifiers(log.child({ component: 'vad' })) : undefined;
  if (vad) opened.push('VAD models', vad, (v) => v.close());

  const active = new Set<string>();
  const drainCtl = new AbortController();
  const handler = createCallHandler({
    directory,
    registry,
    sink: queue,
    audioDir: config.audioDir,
    prompts: new PromptCache(path.join(config.audioDir, 'prompts'), clock),
    log: log.child({ component: 'call' }),
    clock,
    ...(opts.fillerAfterMs === undefined ? {} : { fillerAfterMs: opts.fillerAfterMs }),
    ...(opts.sentenceStreaming === undefined ? {} : { sentenceStreaming: opts.sentenceStreaming }),
    stopSignal: drainCtl.signal,
    executeMarginMs: config.calls.executeMarginMs,
    callGraceSeconds: config.calls.graceSeconds,
    media: {
      default: config.media.default,
      unicast: {
        bind: config.media.unicastBind,
        ports: config.media.unicastPorts,
        freeswitchIp: config.media.unicastFreeswitchIp,
        firstFrameTimeoutMs: config.media.firstFrameTimeoutMs,
      },
      ...(vad ? { classifier: (rateHz: 8000 | 16000) => vad.classifier(rateHz) } : {}),
    },
    killChannel: (uuid, cause) => inbound.api(`uuid_kill ${uuid} ${cause}`, { timeoutMs: 5000 }),
    onCallStart: ({ callUuid, domainName }) => {
      active.add(callUuid);
      metrics.callStarted(domainName);
    },
    onCallEnd: ({ callUuid, domainName, outcome }) => {
      active.delete(callUuid);
      metrics.callEnded(domainName, outcome?.resolution ?? 'error');
    },
    onTurn: (t) => {
      metrics.observeTurnStage('stt', t.providers.stt, t.sttMs);
      if (t.llmFirstTokenMs !== null)
        metrics.observeTurnStage('llm_first_token', t.providers.llm, t.llmFirstTokenMs);
      if (t.ttsFirstByteMs !== null)
        metrics.observeTurnStage('tts_first_byte', t.providers.tts, t.ttsFirstByteMs);
      if (t.turnMs !== null) metrics.observeTurnStage('turn', t.providers.llm, t.turnMs);
    },
  });
  const calls = new Set<Promise<void>>();
  progress.step = `outbound ESL server on ${config.outbound.host}:${config.outbound.port}`;
  const outbound: OutboundServer = await createOutboundServer({
    host: config.outbound.host,
    port: config.outbound.port,
    log: log.child({ component: 'esl-outbound' }),
    lingerSeconds: 5,
    maxConnections: config.outbound.maxConnections,
    maxHandshakes: config.outbound.maxHandshakes,
    maxFrameBytes: config.outbound.maxFrameBytes,
    bufferBudgetBytes: config.outbound.bufferBudgetBytes,
    handshakeTimeoutMs: config.outbound.handshakeTimeoutMs,
    onReject: (reason) => metrics.outboundRejected(reason),
    onSession: (session) => {
      const p = handler(session);
      calls.add(p);
      void p.finally(() => calls.delete(p));
      return p;
    },
  });
  opened.push('outbound ESL server', outbound, (o) => {
    o.destroy();
    return o.close();
  });
  metrics.setOutboundSource(() => ({
    connections: outbound.sessions,
    handshakes: outbound.handshakes,
    bufferedBytes: outbound.bufferedBytes,
  }));
  let draining = false;
  const spoolLimit = opts.spoolLimitRows ?? 1_000_000;
  progress.step = `HTTP server on ${config.http.host}:${config.http.port}`;
  const http: HttpServer = await startHttpServer({
    host: config.http.host,
    port: config.http.port,
    metrics,
    log: log.child({ component: 'http' }),
    readiness: async (signal) => {
      const checks: ReadinessCheck[] = [];
      checks.push({ name: 'draining', ok: !draining, ...(draining ? { detail: 'shutting down' } : {}) });
      checks.push({
        name: 'esl',
        ok: inbound.connected,
        ...(inbound.connected ? {} : { detail: 'inbound ESL not connected' }),
      });
      try {
        const q = sql`SELECT 1`;
        const onAbort = (): void => q.cancel();
        signal.addEventListener('abort', onAbort, { once: true });
        await q.finally(() => signal.removeEventListener('abort', onAbort));
        checks.push({ name: 'database', ok: true });
      } catch (err) {
        checks.push({ name: 'database', ok: false, detail: (err as Error).message });
      }
      const key = await keyCheck.verdict(signal);
      checks.push({ name: 'encryption_key', ok: key.ok, detail: key.detail });
      const spooled = queue.stats().spooledRows;
      checks.push({ name: 'spool', ok: spooled < spoolLimit, detail: `${spooled} rows spooled` });
      return { checks };
    },
  });
  log.info(
    { outboundPort: outbound.port, httpPort: http.port, eslHost: config.esl.host, eslPort: config.esl.port },
    'voice-ai started',
  );
  // Not awaited (the database may be away at start); /readyz shares this run and reports its verdict.
  void keyCheck.verdict().then((v) => {
    if (!v.ok && v.failed > 0) {
      log.error(
        { check: 'encryption_key', domains: v.domains, failed: v.failed, detail: v.detail },
        'encryption key does not decrypt the stored provider secrets: calls to those domains will fail open',
      );
    }
  });

  let stopping: Promise<void> | undefined;
  // Every stop() call sets a deadline; the first to pass ends the grace (a second SIGTERM shortens it).
  const graceOver = new AbortController();
  return {
    outboundPort: outbound.port,
    sql,
    queue,
    directory,
    inbound,
    metrics,
    httpPort: http.port,
    activeCalls: () => active.size,
    stop: (o = {}) => {
      setTimeout(() => graceOver.abort(), o.graceMs ?? config.drainGraceSeconds * 1000).unref();
      return (stopping ??= (async () => {
        draining = true;
        // Stop accepting: a refused connection lets the dialplan's fail-open action run. close() resolves only
        // once every session has ended, so it races the grace period like the calls do.
        const closing = outbound.close();
        await Promise.race([
          Promise.allSettled([closing, ...calls]),
          new Promise((r) => graceOver.signal.addEventListener('abort', r, { once: true })),
        ]);
        if (calls.size > 0) {
          // Grace over: the remaining calls say goodbye and hang up (resolution `drained`), then we cut.
          log.warn({ activeCalls: calls.size }, 'drain grace over: ending remaining calls');
          drainCtl.abort();
          await Promise.race([
            Promise.allSettled([...calls]),
            new Promise((r) => setTimeout(r, 10_000).unref()),
          ]);
        }
        outbound.destroy();
        await Promise.allSettled([...calls]);
        await queue.drain({ timeoutMs: 10_000 });
        await queue.close();
        await inbound.close();
        await directory.close();
        await http.close();
        await sql.end({ timeout: 5 });
        log.info('voice-ai stopped');
      })());
    },
  };
}
