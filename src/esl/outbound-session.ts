import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { throwIfAborted } from '../core/abort.js';
import { CallHangupError, EslError, InvalidInputError } from '../core/errors.js';
import { parseChannelData, variablesOf, type ChannelData } from './channel-data.js';
import type { ByteBudget } from './budget.js';
import { EslConnection, subscribeCommand, type CommandOptions } from './connection.js';
import type { EslEvent, ExecuteEvent } from './event.js';
import type { EslFrame } from './parser.js';
import { createWaiter, type Waiter } from './waiter.js';

export type EventFormat = 'plain' | 'json';

export interface ExecuteOptions {
  signal?: AbortSignal;
  /** Whole execute, from sendmsg to CHANNEL_EXECUTE_COMPLETE; none by default (hangup ends every wait). */
  timeoutMs?: number;
  /** The Event-UUID to send (becomes Application-UUID); a fresh one by default. */
  eventUuid?: string;
}

export interface ExecuteResult {
  readonly application: string;
  readonly applicationData: string;
  readonly applicationUuid: string;
  /** Application-Response (`_none_` when the app set none, e.g. record). */
  readonly response: string;
  /** The channel variables of the EXECUTE_COMPLETE, without the `variable_` prefix. */
  readonly variables: Record<string, string>;
  readonly event: ExecuteEvent;
}

export interface OutboundSessionEvents {
  event: [event: EslEvent];
  dtmf: [digit: string];
  hangup: [cause: string | undefined];
  close: [];
}

export interface OutboundSessionOptions {
  log: Logger;
  commandTimeoutMs: number;
  maxFrameBytes?: number;
  /** Shared allowance for the bytes of incomplete frames (see EslParserOptions.budget). */
  budget?: ByteBudget;
  /** Told instead of a warn line when a bad frame fails the connection. */
  onBadFrame?: (err: EslError) => void;
  /** How long close() waits for FreeSWITCH to close after our FIN before destroying the socket. */
  closeTimeoutMs?: number;
  onClosed?: (session: OutboundSession) => void;
}

export interface HandshakeOptions {
  format: EventFormat;
  lingerSeconds?: number;
  events?: readonly string[];
  timeoutMs: number;
}

/** Args that cannot travel as one header line are sent as a text/plain body instead. */
const MAX_ARG_HEADER_BYTES = 1024;

/**
 * One call handed to the daemon by FreeSWITCH's `socket` app. `hangupSignal` aborts on CHANNEL_HANGUP, the
 * disconnect notice or the socket closing, whichever comes first; pending executes then reject with
 * CallHangupError. On close every listener and timer is released.
 */
export class OutboundSession extends EventEmitter<OutboundSessionEvents> {
  private readonly conn: EslConnection;
  private readonly log: Logger;
  private readonly closeTimeoutMs: number;
  private readonly onClosed: ((session: OutboundSession) => void) | undefined;
  private readonly executes = new Map<string, Waiter<ExecuteResult>>();
  private readonly hangupController = new AbortController();
  private channelData: ChannelData | undefined;
  private format: EventFormat = 'plain';
  private cause: string | undefined;
  private isClosed = false;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  constructor(socket: Socket, options: OutboundSessionOptions) {
    super();
    this.log = options.log;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.onClosed = options.onClosed;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.conn = new EslConnection(socket, {
      log: options.log,
      commandTimeoutMs: options.commandTimeoutMs,
      parser: {
        ...(options.maxFrameBytes === undefined ? {} : { maxFrameBytes: options.maxFrameBytes }),
        ...(options.budget === undefined ? {} : { budget: options.budget }),
      },
      ...(options.onBadFrame === undefined ? {} : { onBadFrame: options.onBadFrame }),
      handlers: {
        onEvent: (e) => this.onEvent(e),
        onNotice: (f) => this.onNotice(f),
        onClose: () => this.onClose(),
      },
    });
  }

  /** The call's channel data from the `connect` reply. */
  get channel(): ChannelData {
    if (this.channelData === undefined)
      throw new EslError('E_ESL_PROTOCOL', 'outbound session not connected yet');
    return this.channelData;
  }

  get hangupSignal(): AbortSignal {
    return this.hangupController.signal;
  }

  /** Hangup-Cause of CHANNEL_HANGUP, once known. */
  get hangupCause(): string | undefined {
    return this.cause;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Executes and commands whose callers still wait. */
  pendingCount(): number {
    return this.executes.size + this.conn.pendingCount();
  }

  /** Listeners held on the socket (0 once closed). */
  socketListenerCount(): number {
    return this.conn.socketListenerCount();
  }

  /** connect, linger, myevents, extra subscriptions: what the server does before handing the session out. */
  async handshake(options: HandshakeOptions): Promise<void> {
    const opts = { timeoutMs: options.timeoutMs };
    const reply = await this.conn.command('connect', opts);
    this.channelData = parseChannelData(reply.headers);
    if (options.lingerSeconds !== undefined) await this.linger(options.lingerSeconds, opts);
    this.format = options.format;
    await this.conn.command(options.format === 'json' ? 'myevents json' : 'myevents', opts);
    if (options.events !== undefined && options.events.length > 0) await this.subscribe(options.events, opts);
  }

  /**
   * Runs a dialplan app (sendmsg execute, event-lock, our Event-UUID) and resolves on its
   * CHANNEL_EXECUTE_COMPLETE. Rejects with CallHangupError when the call hangs up first.
   */
  async execute(app: string, arg?: string, options: ExecuteOptions = {}): Promise<ExecuteResult> {
    if (/[\s]/.test(app) || app === '') throw new InvalidInputError('app name must be one word');
    if (this.hangupSignal.aborted) throw this.hangupError();
    throwIfAborted(options.signal);
    const uuid = options.eventUuid ?? randomUUID();
    if (/[\r\n]/.test(uuid)) throw new InvalidInputError('eventUuid must be one line');
    const waiter = createWaiter<ExecuteResult>(
      `execute ${app}`,
      options.timeoutMs ?? 0,
      options.signal,
      () => {
        if (this.executes.get(uuid) === waiter) this.executes.delete(uuid);
      },
    );
    this.executes.set(uuid, waiter);
    const lines = ['sendmsg', 'call-command: execute', `execute-app-name: ${app}`];
    let body: string | undefined;
    if (arg !== undefined && arg !== '') {
      if (/[\r\n]/.test(arg) || Buffer.byteLength(arg, 'utf8') > MAX_ARG_HEADER_BYTES) body = arg;
      else lines.push(`execute-app-arg: ${arg}`);
    }
    lines.push('event-lock: true', `Event-UUID: ${uuid}`);
    if (body !== undefined) lines.push('content-type: text/plain');
    const cmd: CommandOptions = options.signal === undefined ? {} : { signal: options.signal };
    try {
      await this.conn.command(lines.join('\n'), cmd, body);
    } catch (err) {
      waiter.reject(this.hangupSignal.aborted ? this.hangupError() : (err as Error));
    }
    return waiter.promise;
  }

  /** Hangs the call up (sendmsg call-command: hangup); a no-op once it is down. */
  async hangup(cause = 'NORMAL_CLEARING', options: CommandOptions = {}): Promise<void> {
    if (/[\s]/.test(cause)) throw new InvalidInputError('hangup cause must be one word');
    if (this.hangupSignal.aborted || this.isClosed) return;
    await this.conn.command(`sendmsg\ncall-command: hangup\nhangup-cause: ${cause}`, options);
  }

  /**
   * Sends `sendmsg` with these headers (e.g. `call-command: unicast`) and resolves on its reply. FreeSWITCH
   * answers +OK to a unicast even when it could not bind: the caller must check that media flows.
   */
  async sendmsg(headers: Readonly<Record<string, string>>, options: CommandOptions = {}): Promise<void> {
    if (this.hangupSignal.aborted) throw this.hangupError();
    const lines = ['sendmsg'];
    for (const [k, v] of Object.entries(headers)) {
      if (!/^[A-Za-z0-9-]+$/.test(k) || /[\r\n]/.test(v))
        throw new InvalidInputError(`sendmsg header ${JSON.stringify(k)} must be one line`);
      lines.push(`${k}: ${v}`);
    }
    await this.conn.command(lines.join('\n'), options);
  }

  /** Adds event subscriptions in the session's format (CUSTOM subclasses last). */
  async subscribe(events: readonly string[], options: CommandOptions = {}): Promise<void> {
    await this.conn.command(subscribeCommand(this.format, events), options);
  }

  /** Keeps the socket open for `seconds` after hangup, so the last events arrive. */
  async linger(seconds: number, options: CommandOptions = {}): Promise<void> {
    if (!Number.isInteger(seconds) || seconds <= 0)
      throw new InvalidInputError('linger seconds must be a positive integer');
    await this.conn.command(`linger ${seconds}`, options);
  }

  /** `api` on this socket (outbound `full` mode); blocks this socket's events until it returns. */
  api(command: string, options: CommandOptions = {}): Promise<string> {
    return this.conn.api(command, options);
  }

  /** Ends our side so the dialplan continues after `socket`; resolves once the socket closed. Idempotent. */
  close(): Promise<void> {
    if (!this.isClosed && this.closeTimer === undefined) {
      this.closeTimer = setTimeout(() => this.conn.destroy(), this.closeTimeoutMs);
      this.closeTimer.unref();
      this.conn.end();
    }
    return this.closedPromise;
  }

  /** Closes the socket at once. Idempotent. */
  destroy(): void {
    this.conn.destroy();
  }

  private hangupError(): CallHangupError {
    return new CallHangupError('call hung up', this.cause);
  }

  private markHangup(cause: string | undefined): void {
    if (this.hangupSignal.aborted) return;
    this.cause ??= cause;
    const err = this.hangupError();
    for (const w of [...this.executes.values()]) w.reject(err);
    this.executes.clear();
    this.hangupController.abort(err);
    this.safeEmit('hangup', this.cause);
  }

  private onEvent(event: EslEvent): void {
    const mine = event.uniqueId === undefined || event.uniqueId === this.channelData?.uniqueId;
    if (mine && (event.name === 'CHANNEL_HANGUP' || event.name === 'CHANNEL_HANGUP_COMPLETE')) {
      this.markHangup(event.hangupCause || undefined);
    } else if (event.name === 'CHANNEL_EXECUTE_COMPLETE') {
      this.executes.get(event.applicationUuid)?.resolve({
        application: event.application,
        applicationData: event.applicationData,
        applicationUuid: event.applicationUuid,
        response: event.applicationResponse ?? '',
        variables: variablesOf(event.headers),
        event,
      });
    }
    this.safeEmit('event', event);
    if (event.name === 'DTMF' && mine) this.safeEmit('dtmf', event.digit);
  }

  private onNotice(frame: EslFrame): void {
    if (frame.contentType === 'text/disconnect-notice') this.markHangup(undefined);
    else this.log.debug({ contentType: frame.contentType }, 'esl outbound notice ignored');
  }

  private onClose(): void {
    this.isClosed = true;
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.markHangup(undefined);
    this.safeEmit('close');
    this.removeAllListeners(); // our own emitter, dead from here on: nothing may keep a closure alive
    this.onClosed?.(this);
    this.resolveClosed();
  }

  private safeEmit<K extends keyof OutboundSessionEvents>(name: K, ...args: OutboundSessionEvents[K]): void {
    try {
      (this.emit as (n: K, ...a: OutboundSessionEvents[K]) => boolean)(name, ...args);
    } catch (err) {
      this.log.error({ err, listener: name }, 'outbound session listener threw');
    }
  }
}
