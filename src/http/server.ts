import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

/** One readiness condition: ESL connected, database reachable, spool under its limit, not draining, … */
export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface ReadinessReport {
  checks: readonly ReadinessCheck[];
}

/**
 * Evaluates readiness. `signal` aborts when the answer is no longer wanted (timeout, server closing), so a
 * `select 1` can be cancelled instead of piling up behind a hung database.
 */
export type ReadinessFn = (signal: AbortSignal) => Promise<ReadinessReport> | ReadinessReport;

export interface HttpServerOptions {
  /** Default 127.0.0.1: metrics and readiness are for the host's own agents, not the internet. */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  metrics: Metrics;
  readiness: ReadinessFn;
  log: Logger;
  /** A readiness function slower than this counts as not ready; default 2000. */
  readinessTimeoutMs?: number;
  /** How long close() lets requests in flight finish before cutting their connections; default 3000. */
  closeTimeoutMs?: number;
}

export interface HttpServer {
  /** The address actually bound. */
  readonly host: string;
  readonly port: number;
  /** Stops listening, ends idle keep-alive connections, lets requests in flight finish (bounded). Idempotent. */
  close(): Promise<void>;
}

/** The JSON body of /readyz. */
export interface ReadinessBody {
  ready: boolean;
  checks: ReadinessCheck[];
}

const ROUTES = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Serves `GET /healthz` (process alive), `GET /readyz` (200 or 503 with each check) and `GET /metrics`
 * (Prometheus text) on node:http. Only GET and HEAD; anything else is 404 or 405. A request handler never
 * throws: a failure becomes a 500 (or a cut connection if headers were already sent) and a log line.
 */
export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const host = opts.host ?? '127.0.0.1';
  const { metrics, log } = opts;
  const readinessTimeoutMs = opts.readinessTimeoutMs ?? 2000;
  const closeTimeoutMs = opts.closeTimeoutMs ?? 3000;
  const closing = new AbortController();
  let inFlight: Promise<ReadinessBody> | undefined;
  let lastReady: boolean | undefined;

  /** Probes come from several agents at once; one evaluation in flight serves all of them. */
  function readiness(): Promise<ReadinessBody> {
    inFlight ??= evaluateReadiness(opts.readiness, readinessTimeoutMs, closing.signal).finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (!ROUTES.has(path)) return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    switch (path) {
      case '/healthz':
        return send(res, 200, 'text/plain; charset=utf-8', 'ok\n');
      case '/readyz': {
        const body = await readiness();
        if (body.ready !== lastReady) {
          const failing = body.checks.filter((c) => !c.ok);
          if (body.ready) log.info('daemon ready');
          else log.warn({ failing }, 'daemon not ready');
          lastReady = body.ready;
        }
        return send(res, body.ready ? 200 : 503, 'application/json', `${JSON.stringify(body)}\n`);
      }
      default:
        return send(res, 200, metrics.contentType, await metrics.render());
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, url: req.url }, 'http request failed');
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  // Scrapers keep connections alive; a short idle timeout keeps close() quick and sockets few.
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(opts.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'http server error'));
  const { address, port } = server.address() as AddressInfo;
  log.info({ host: address, port }, 'http server listening');

  let closed: Promise<void> | undefined;
  return {
    host: address,
    port,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        closing.abort();
        const force = setTimeout(() => server.closeAllConnections(), closeTimeoutMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      })),
  };
}

/**
 * Runs the caller's checks under a timeout. A function that throws, times out or returns something malformed
 * means not ready, with the reason as the detail; an empty list of checks means ready.
 */
async function evaluateReadiness(
  fn: ReadinessFn,
  timeoutMs: number,
  closing: AbortSignal,
): Promise<ReadinessBody> {
  if (closing.aborted)
    return { ready: false, checks: [{ name: 'readiness', ok: false, detail: 'http server closing' }] };
  const ctrl = new AbortController();
  const onClosing = (): void => ctrl.abort(closing.reason);
  closing.addEventListener('abort', onClosing, { once: true });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const err = new Error(`readiness timeout: no answer within ${timeoutMs} ms`);
        ctrl.abort(err);
        reject(err);
      }, timeoutMs);
    });
    // Called inside the try so a synchronous throw is caught like a rejection.
    const report = await Promise.race([Promise.resolve().then(() => fn(ctrl.signal)), timeout]);
    const checks = normalise(report);
    return { ready: checks.every((c) => c.ok), checks };
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ready: false, checks: [{ name: 'readiness', ok: false, detail }] };
  } finally {
    clearTimeout(timer);
    closing.removeEventListener('abort', onClosing);
    // Whatever the caller started is no longer wanted.
    if (!ctrl.signal.aborted) ctrl.abort(new Error('readiness evaluated'));
  }
}

/** Copies the fields we promise, so a caller's stray objects (or a plain-JS mistake) never reach the body. */
function normalise(report: unknown): ReadinessCheck[] {
  const checks: unknown = (report as { checks?: unknown } | null | undefined)?.checks;
  if (!Array.isArray(checks)) throw new Error('readiness function returned no checks');
  return (checks as unknown[]).map((c) => {
    const { name, ok, detail } = (c ?? {}) as { name?: unknown; ok?: unknown; detail?: unknown };
    return {
      name: typeof name === 'string' ? name : 'unnamed',
      ok: ok === true,
      ...(typeof detail === 'string' ? { detail } : {}),
    };
  });
}

function send(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  // node:http drops the body of a response to HEAD and keeps the headers.
  res.end(body);
}
