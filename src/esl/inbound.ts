import { EventEmitter } from 'node:events';
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { delay } from '../core/abort.js';
import { EslCommandError, EslError } from '../core/errors.js';
import { EslConnection, subscribeCommand, type CommandOptions } from './connection.js';
import type { EslEvent } from './event.js';
import type { EslFrame } from './parser.js';
import { createWaiter, ignoreRejection, type Waiter } from './waiter.js';

export type InboundState = 'connected' | 'disconnected';

export interface InboundOptions {
  host?: string;
  port?: number;
  password: string;
  log: Logger;
  /** Subscribed after auth (BACKGROUND_JOB is always added, for bgapi); CUSTOM subclasses go last. */
  events?: readonly string[];
  format?: 'plain' | 'json';
  /** Reconnect delays; INBOUND_BACKOFF by default. */
  backoff?: { baseMs: number; capMs: number };
  /** Default reply timeout of api/bgapi; 10 s by default. */
  commandTimeoutMs?: number;
  /** TCP connect + auth + subscribe; 5 s by default. */
  handshakeTimeoutMs?: number;
  maxFrameBytes?: number;
  /** A connection that lived this long resets the backoff; 5 s by default. */
  stableAfterMs?: number;
  /** Jitter source (tests). */
  random?: () => number;
}

export interface InboundEvents {
  state: [state: InboundState];
  event: [event: EslEvent];
}

/**
 * Reconnect schedule of the control connection. FreeSWITCH is normally on the same host, so a restart is over in
 * seconds: a 30 s cap measured 5.3 s of a dead control link after the switch was back (issue 9 item 13). 200 ms
 * doubling to 1 s reconnects within about a second of the switch returning; the half-to-full jitter keeps at
 * least 100 ms between attempts, so a long outage costs about one attempt a second, not a storm.
 */
export const INBOUND_BACKOFF = { baseMs: 200, capMs: 1000 } as const;

/** The wait before reconnect attempt `attempt` (0-based): in [ceiling/2, ceiling), ceiling = min(cap, base*2^n). */
export function reconnectDelayMs(
  attempt: number,
  backoff: { baseMs: number; capMs: number } = INBOUND_BACKOFF,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The daemon's control connection to FreeSWITCH (port 8021): authenticates, subscribes, reconnects with capped
 * jittered backoff and subscribes again. Commands fail fast with E_ESL_CLOSED while it is down.
 */
export class InboundConnection extends EventEmitter<InboundEvents> {
  private readonly opts: InboundOptions;
  private readonly log: Logger;
  private readonly stop = new AbortController();
  private conn: EslConnection | undefined;
  private isConnected = false;
  private reconnectCount = 0;
  private loopPromise: Promise<void> | undefined;
  private firstConnect: Waiter<void> | undefined;

  constructor(options: InboundOptions) {
    super();
    this.opts = options;
    this.log = options.log;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /** Successful connections after the first one. */
  get reconnects(): number {
    return this.reconnectCount;
  }

  /** Commands and jobs whose callers still wait. */
  pendingCount(): number {
    return this.conn?.pendingCount() ?? 0;
  }

  /** Starts connecting (retrying forever); resolves on the first connection, rejects if closed before. */
  start(): Promise<void> {
    if (this.firstConnect === undefined) {
      this.firstConnect = createWaiter<void>('esl inbound start', 0, undefined);
      ignoreRejection(this.firstConnect.promise);
      this.loopPromise = this.loop();
    }
    return this.firstConnect.promise;
  }

  /** `api <command>`: the output; `-ERR` output rejects with EslCommandError (E_ESL_COMMAND). */
  api(command: string, options: CommandOptions = {}): Promise<string> {
    const conn = this.live();
    return conn === undefined ? closedRejection() : conn.api(command, options);
  }

  /** `bgapi <command> <args>`: the BACKGROUND_JOB body; `-ERR` rejects with EslCommandError. */
  bgapi(command: string, args?: string, options: CommandOptions = {}): Promise<string> {
    const conn = this.live();
    const line = args === undefined || args === '' ? command : `${command} ${args}`;
    return conn === undefined ? closedRejection() : conn.bgapi(line, options);
  }

  /** Stops reconnecting and closes the socket; pending commands reject with E_ESL_CLOSED. Idempotent. */
  async close(): Promise<void> {
    if (!this.stop.signal.aborted) {
      this.stop.abort();
      this.firstConnect?.reject(new EslError('E_ESL_CLOSED', 'ESL inbound connection closed'));
      this.conn?.destroy();
    }
    await this.loopPromise;
  }

  private live(): EslConnection | undefined {
    return this.isConnected && this.conn !== undefined && !this.conn.closed ? this.conn : undefined;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    // One warning per outage: the first failed attempt says so, the rest are debug until it is back.
    let outageWarned = false;
    let downSinceMs: number | undefined;
    const backoff = this.opts.backoff ?? INBOUND_BACKOFF;
    while (!this.stop.signal.aborted) {
      try {
        const { conn, closed } = await this.connectOnce();
        const since = Date.now();
        this.isConnected = true;
        if (this.firstConnect?.settled === false) this.firstConnect.resolve();
        else this.reconnectCount++;
        const downMs = downSinceMs === undefined ? undefined : since - downSinceMs;
        this.log.info(
          { reconnects: this.reconnectCount, attempts: attempt, downMs },
          'esl inbound connected',
        );
        outageWarned = false;
        downSinceMs = undefined;
        this.safeEmit('state', 'connected');
        await closed;
        this.isConnected = false;
        if (conn === this.conn) this.conn = undefined;
        if (Date.now() - since >= (this.opts.stableAfterMs ?? 5000)) attempt = 0;
        if (!this.stop.signal.aborted) {
          this.log.warn('esl inbound disconnected');
          outageWarned = true;
          downSinceMs = Date.now();
        }
        this.safeEmit('state', 'disconnected');
      } catch (err) {
        if (this.stop.signal.aborted) break;
        const code = err instanceof EslError ? err.code : undefined;
        downSinceMs ??= Date.now();
        if (code === 'E_ESL_AUTH') this.log.error({ err, code }, 'esl inbound auth failed');
        else if (!outageWarned) this.log.warn({ err, code }, 'esl inbound connect failed');
        else this.log.debug({ err, code, attempt }, 'esl inbound connect failed');
        outageWarned = true;
      }
      if (this.stop.signal.aborted) break;
      const waitMs = reconnectDelayMs(attempt++, backoff, this.opts.random);
      await delay(waitMs, this.stop.signal).catch(() => undefined);
    }
  }

  /** One TCP connection, authenticated and subscribed. */
  private async connectOnce(): Promise<{ conn: EslConnection; closed: Promise<void> }> {
    const timeoutMs = this.opts.handshakeTimeoutMs ?? 5000;
    const socket: Socket = connect({ host: this.opts.host ?? '127.0.0.1', port: this.opts.port ?? 8021 });
    const authRequest = createWaiter<void>('esl inbound auth request', timeoutMs, this.stop.signal);
    ignoreRejection(authRequest.promise);
    let onClosed!: () => void;
    const closed = new Promise<void>((resolve) => (onClosed = resolve));
    const conn = new EslConnection(socket, {
      log: this.log,
      commandTimeoutMs: this.opts.commandTimeoutMs ?? 10_000,
      ...(this.opts.maxFrameBytes === undefined
        ? {}
        : { parser: { maxFrameBytes: this.opts.maxFrameBytes } }),
      handlers: {
        onEvent: (e) => this.safeEmit('event', e),
        onNotice: (f) => this.onNotice(f, authRequest),
        onClose: (reason) => {
          authRequest.reject(new EslError('E_ESL_CLOSED', 'ESL connection closed', { cause: reason }));
          onClosed();
        },
      },
    });
    this.conn = conn;
    try {
      await authRequest.promise;
      const opts = { timeoutMs, signal: this.stop.signal };
      try {
        await conn.command(`auth ${this.opts.password}`, opts);
      } catch (err) {
        if (err instanceof EslCommandError)
          throw new EslError('E_ESL_AUTH', 'ESL password refused', { cause: err });
        throw err;
      }
      const events = [...(this.opts.events ?? []), 'BACKGROUND_JOB'];
      await conn.command(subscribeCommand(this.opts.format ?? 'plain', events), opts);
    } catch (err) {
      conn.destroy();
      await closed;
      throw err;
    }
    return { conn, closed };
  }

  private onNotice(frame: EslFrame, authRequest: Waiter<void>): void {
    switch (frame.contentType) {
      case 'auth/request':
        authRequest.resolve();
        return;
      case 'text/rude-rejection':
        this.log.error({ body: frame.body }, 'esl inbound rejected by FreeSWITCH acl');
        return;
      case 'text/disconnect-notice':
        this.log.info('esl inbound disconnect notice');
        return;
      default:
        this.log.debug({ contentType: frame.contentType }, 'esl inbound notice ignored');
    }
  }

  private safeEmit<K extends keyof InboundEvents>(name: K, ...args: InboundEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: InboundEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error({ err, listener: name }, 'esl inbound listener threw');
    }
  }
}

function closedRejection(): Promise<never> {
  return Promise.reject(new EslError('E_ESL_CLOSED', 'ESL inbound connection is not connected'));
}

/** Creates the control connection; call start() to connect. */
export function createInboundConnection(options: InboundOptions): InboundConnection {
  return new InboundConnection(options);
}
