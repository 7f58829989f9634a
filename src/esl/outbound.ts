import { createServer, type AddressInfo, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { isAbort } from '../core/errors.js';
import { OutboundSession, type EventFormat } from './outbound-session.js';

export interface OutboundServerOptions {
  /** Where to listen; loopback by default (the dialplan says `socket 127.0.0.1:8084 async full`). */
  host?: string;
  /** 0 picks a free port (tests). */
  port: number;
  log: Logger;
  maxFrameBytes?: number;
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
  /** For connect, linger, myevents and the subscriptions, each; 5 s by default. */
  handshakeTimeoutMs?: number;
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

/** Starts the server FreeSWITCH's `socket` app connects to, one TCP connection per call. */
export async function createOutboundServer(options: OutboundServerOptions): Promise<OutboundServer> {
  const log = options.log;
  const sessions = new Set<OutboundSession>();
  const allowed = options.allowedAddresses?.map(normalizeAddress);
  const server = createServer({ noDelay: true });
  let closing: Promise<void> | undefined;

  const accepts = (address: string | undefined): boolean => {
    if (address === undefined) return false;
    return allowed === undefined ? isLoopback(address) : allowed.includes(normalizeAddress(address));
  };

  const run = async (session: OutboundSession): Promise<void> => {
    try {
      await session.handshake({
        format: options.eventFormat ?? 'plain',
        timeoutMs: options.handshakeTimeoutMs ?? 5000,
        ...(options.lingerSeconds === undefined ? {} : { lingerSeconds: options.lingerSeconds }),
        ...(options.events === undefined ? {} : { events: options.events }),
      });
    } catch (err) {
      log.warn({ err }, 'esl outbound handshake failed');
      session.destroy();
      return;
    }
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

  server.on('connection', (socket: Socket) => {
    if (closing !== undefined || !accepts(socket.remoteAddress)) {
      if (closing === undefined)
        log.warn({ remoteAddress: socket.remoteAddress }, 'esl outbound peer refused');
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    const session = new OutboundSession(socket, {
      log,
      commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
      ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
      ...(options.closeTimeoutMs === undefined ? {} : { closeTimeoutMs: options.closeTimeoutMs }),
      onClosed: (s) => sessions.delete(s),
    });
    sessions.add(session);
    void run(session);
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
