import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { isAbort, type EslError } from '../core/errors.js';
import { ByteBudget } from './budget.js';
import { OutboundSession, type EventFormat } from './outbound-session.js';
import { WarnLimiter } from './warn-limiter.js';

/**
 * Largest outbound frame by default. The biggest real one is the `connect` reply with the channel data, about
 * 4 KB in the recordings (events ~5.5 KB); calls with many variables or SIP headers reach tens of KB. The
 * parser's 8 MiB default let each junk local peer make the daemon hold 8 MiB: 150 of them took it past the
 * unit's MemoryMax=1G.
 */
export const DEFAULT_OUTBOUND_MAX_FRAME_BYTES = 256 * 1024;
export const DEFAULT_OUTBOUND_MAX_CONNECTIONS = 1000;
export const DEFAULT_OUTBOUND_MAX_HANDSHAKES = 128;
export const DEFAULT_OUTBOUND_BUFFER_BUDGET_BYTES = 64 * 1024 * 1024;
export const DEFAULT_OUTBOUND_HANDSHAKE_TIMEOUT_MS = 5000;

/** Why a connection was closed before or instead of being a call (the `reason` label of the metric). */
export type OutboundRejectReason =
  | 'peer_not_allowed'
  | 'too_many_connections'
  | 'too_many_handshakes'
  | 'handshake_timeout'
  | 'handshake_failed'
  | 'frame_too_large'
  | 'buffer_budget'
  | 'protocol_error';

export interface OutboundServerOptions {
  /** Where to listen; loopback by default (the dialplan says `socket 127.0.0.1:8084 async full`). */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  log: Logger;
  /** Largest frame a peer may announce; DEFAULT_OUTBOUND_MAX_FRAME_BYTES by default. */
  maxFrameBytes?: number;
  /** Open connections (calls and handshakes); more are closed at once. */
  maxConnections?: number;
  /** Connections whose handshake has not completed yet; more are closed at once. */
  maxHandshakes?: number;
  /** Bytes all connections together may hold for incomplete frames; the one that needs more is closed. */
  bufferBudgetBytes?: number;
  /**
   * Peers allowed to connect (exact IPs; `::ffff:` prefixes are ignored). Default: loopback only. Anyone who
   * can connect can make the daemon act on a call, so others are dropped at once.
   */
  allowedAddresses?: readonly string[];
  /** `myevents` format; plain by default. */
  eventFormat?: EventFormat;
  /** `linger <n>` before `myevents`, so the events after a hangup still arrive. */
  lingerSeconds?: number;
  /** Extra `event` subscriptions made before onSession (PLAYBACK_START, CUSTOM ...). */
  events?: readonly string[];
  /** For the whole handshake (connect, linger, myevents, subscriptions); 5 s by default. */
  handshakeTimeoutMs?: number;
  /** Told of every connection closed by a limit or a failed handshake (metrics). Must not throw. */
  onReject?: (reason: OutboundRejectReason) => void;
  /** Clock of the warn rate limit (one line per reason per 10 s); Date.now by default. */
  now?: () => number;
  /** Default timeout of each command's reply; 10 s by default. */
  commandTimeoutMs?: number;
  /** How long a session's close() waits for FreeSWITCH to close; 2 s by default. */
  closeTimeoutMs?: number;
  /**
   * Called once per call after the handshake. When it returns a promise, the session is closed when that
   * promise settles (the call's life is tied to the callback); a rejection is logged, never thrown.
   */
  onSession: (session: OutboundSession) => void | Promise<void>;
}

export interface OutboundServer {
  readonly port: number;
  /** Sessions open now, handshakes included. */
  readonly sessions: number;
  /** Sessions whose handshake has not completed. */
  readonly handshakes: number;
  /** Bytes held for incomplete frames, over all sessions. */
  readonly bufferedBytes: number;
  /** Stops accepting; resolves when every open session has ended. Idempotent. */
  close(): Promise<void>;
  /** Stops accepting and closes every session now. Idempotent. */
  destroy(): void;
}

function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function isLoopback(address: string): boolean {
  const a = normalizeAddress(address);
  return a === '::1' || a.startsWith('127.');
}

function frameRejectReason(err: EslError): OutboundRejectReason {
  if (err.code === 'E_ESL_FRAME_TOO_LARGE') return 'frame_too_large';
  if (err.code === 'E_ESL_BUFFER_BUDGET') return 'buffer_budget';
  return 'protocol_error';
}

/** Per connection: the first reason it was rejected for, so it is counted once. */
interface Admission {
  reason: OutboundRejectReason | undefined;
}

/** Starts the server FreeSWITCH's `socket` app connects to, one TCP connection per call. */
export async function createOutboundServer(options: OutboundServerOptions): Promise<OutboundServer> {
  const log = options.log;
  const sessions = new Set<OutboundSession>();
  const allowed = options.allowedAddresses?.map(normalizeAddress);
  const server = createServer({ noDelay: true });
  const maxConnections = options.maxConnections ?? DEFAULT_OUTBOUND_MAX_CONNECTIONS;
  const maxHandshakes = options.maxHandshakes ?? DEFAULT_OUTBOUND_MAX_HANDSHAKES;
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_OUTBOUND_MAX_FRAME_BYTES;
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_OUTBOUND_HANDSHAKE_TIMEOUT_MS;
  const budget = new ByteBudget(options.bufferBudgetBytes ?? DEFAULT_OUTBOUND_BUFFER_BUDGET_BYTES);
  const warnings = new WarnLimiter({ log, ...(options.now === undefined ? {} : { now: options.now }) });
  let handshakes = 0;
  let closing: Promise<void> | undefined;

  const accepts = (address: string | undefined): boolean => {
    if (address === undefined) return false;
    return allowed === undefined ? isLoopback(address) : allowed.includes(normalizeAddress(address));
  };

  /** Counts and logs (rate-limited) the first rejection of a connection; later ones are the same failure. */
  const reject = (
    admission: Admission,
    reason: OutboundRejectReason,
    fields: Record<string, unknown>,
  ): void => {
    if (admission.reason !== undefined) return;
    admission.reason = reason;
    try {
      options.onReject?.(reason);
    } catch (err) {
      log.error({ err }, 'esl outbound onReject threw');
    }
    warnings.warn(reason, { reason, ...fields }, 'esl outbound connection rejected');
  };

  const handshake = async (session: OutboundSession, admission: Admission): Promise<boolean> => {
    handshakes++;
    // One deadline for the whole handshake: a peer trickling bytes must not hold its buffer for 4 x 5 s.
    const timer = setTimeout(() => {
      reject(admission, 'handshake_timeout', { timeoutMs: handshakeTimeoutMs });
      session.destroy();
    }, handshakeTimeoutMs);
    try {
      await session.handshake({
        format: options.eventFormat ?? 'plain',
        timeoutMs: handshakeTimeoutMs,
        ...(options.lingerSeconds === undefined ? {} : { lingerSeconds: options.lingerSeconds }),
        ...(options.events === undefined ? {} : { events: options.events }),
      });
      return true;
    } catch (err) {
      const timedOut = (err as { code?: unknown }).code === 'E_ESL_TIMEOUT';
      reject(admission, timedOut ? 'handshake_timeout' : 'handshake_failed', { err });
      session.destroy();
      return false;
    } finally {
      clearTimeout(timer);
      handshakes--;
    }
  };

  const run = async (session: OutboundSession, admission: Admission): Promise<void> => {
    if (!(await handshake(session, admission))) return;
    let result: void | Promise<void>;
    try {
      result = options.onSession(session);
    } catch (err) {
      log.error({ err, callUuid: session.channel.uniqueId }, 'esl outbound onSession threw');
      await session.close();
      return;
    }
    if (!(result instanceof Promise)) return;
    try {
      await result;
    } catch (err) {
      if (isAbort(err))
        log.debug({ err, callUuid: session.channel.uniqueId }, 'esl outbound session ended by cancellation');
      else log.error({ err, callUuid: session.channel.uniqueId }, 'esl outbound onSession failed');
    }
    await session.close();
  };

  const refuse = (socket: Socket): void => {
    socket.on('error', () => undefined);
    socket.destroy();
  };

  server.on('connection', (socket: Socket) => {
    if (closing !== undefined) return refuse(socket);
    const admission: Admission = { reason: undefined };
    const remoteAddress = socket.remoteAddress;
    // Checked before anything is allocated for the peer, so a flood costs a file descriptor for a moment only.
    if (!accepts(remoteAddress)) reject(admission, 'peer_not_allowed', { remoteAddress });
    else if (sessions.size >= maxConnections)
      reject(admission, 'too_many_connections', {
        remoteAddress,
        connections: sessions.size,
        maxConnections,
      });
    else if (handshakes >= maxHandshakes)
      reject(admission, 'too_many_handshakes', { remoteAddress, handshakes, maxHandshakes });
    if (admission.reason !== undefined) return refuse(socket);
    const session = new OutboundSession(socket, {
      log,
      commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
      maxFrameBytes,
      budget,
      onBadFrame: (err) =>
        reject(admission, frameRejectReason(err), { remoteAddress, code: err.code, detail: err.message }),
      ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
      onClosed: (s) => sessions.delete(s),
    });
    sessions.add(session);
    void run(session, admission);
  });
  // A listen failure (EADDRINUSE) is the caller's to report, once; later errors are logged here.
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'esl outbound server error'));
  const port = (server.address() as AddressInfo).port;
  log.info({ port, host: options.host ?? '127.0.0.1' }, 'esl outbound server listening');

  return {
    port,
    get sessions() {
      return sessions.size;
    },
    get handshakes() {
      return handshakes;
    },
    get bufferedBytes() {
      return budget.usedBytes;
    },
    close() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closing;
    },
    destroy() {
      closing ??= new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of [...sessions]) s.destroy();
    },
  };
}
