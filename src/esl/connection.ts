import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { EslCommandError, EslError, InvalidInputError } from '../core/errors.js';
import type { EslEvent, EslHeaders } from './event.js';
import { EslParser, type EslFrame, type EslParserOptions } from './parser.js';
import { createWaiter, ignoreRejection, type Waiter } from './waiter.js';

/** The reply to one command. */
export interface EslReply {
  /** `command/reply` or `api/response`. */
  readonly contentType: string;
  readonly headers: EslHeaders;
  readonly body: string | undefined;
  /** Reply-Text of a command/reply, the body of an api/response. */
  readonly text: string;
}

export interface CommandOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface EslConnectionHandlers {
  onEvent(event: EslEvent): void;
  /** Frames that answer no command: auth/request, text/disconnect-notice, log/data, text/rude-rejection. */
  onNotice(frame: EslFrame): void;
  /** Once, after the socket closed and every pending command was rejected. */
  onClose(reason: Error | undefined): void;
}

export interface EslConnectionOptions {
  log: Logger;
  handlers: EslConnectionHandlers;
  commandTimeoutMs: number;
  parser?: EslParserOptions;
  /**
   * Told, instead of a warn line, when a bad frame fails the connection (the outbound server counts those and
   * rate-limits their lines: junk peers must not flood the journal). Must not throw.
   */
  onBadFrame?: (err: EslError) => void;
}

/** True for `-ERR ...` and `-USAGE: ...` texts, FreeSWITCH's two failure forms. */
export function isErrorText(text: string): boolean {
  return text.startsWith('-ERR') || text.startsWith('-USAGE');
}

/**
 * The `event <format> ...` command for a list of names. Every word after CUSTOM is a subclass, so plain
 * names go first, then CUSTOM and the subclasses (`mod_audio_stream::play`).
 */
export function subscribeCommand(format: 'plain' | 'json', events: readonly string[]): string {
  const names: string[] = [];
  const subclasses: string[] = [];
  let custom = false;
  for (const e of events) {
    if (/[\s]/.test(e) || e === '') throw new InvalidInputError(`invalid event name: ${JSON.stringify(e)}`);
    if (e === 'CUSTOM') custom = true;
    else if (e.includes('::')) subclasses.push(e);
    else if (!names.includes(e)) names.push(e);
  }
  const parts = [...names];
  if (custom || subclasses.length > 0) parts.push('CUSTOM', ...new Set(subclasses));
  if (parts.length === 0) throw new InvalidInputError('no events to subscribe to');
  return `event ${format} ${parts.join(' ')}`;
}

function assertOneLine(what: string, value: string): void {
  if (/[\r\n]/.test(value)) throw new InvalidInputError(`${what} must be one line`);
}

/**
 * One ESL socket: frames what arrives, matches every command/reply and api/response to its command in FIFO
 * order (events interleave freely), resolves bgapi by its BACKGROUND_JOB. A command that timed out or was
 * aborted keeps its slot until its reply comes, so later replies are never misattributed.
 */
export class EslConnection {
  private readonly socket: Socket;
  private readonly log: Logger;
  private readonly handlers: EslConnectionHandlers;
  private readonly commandTimeoutMs: number;
  private readonly parser: EslParser;
  private readonly onBadFrame: ((err: EslError) => void) | undefined;
  private readonly slots: Waiter<EslReply>[] = [];
  private readonly jobs = new Map<string, Waiter<EslEvent>>();
  private isClosed = false;
  private closeReason: Error | undefined;

  constructor(socket: Socket, options: EslConnectionOptions) {
    this.socket = socket;
    this.log = options.log;
    this.handlers = options.handlers;
    this.commandTimeoutMs = options.commandTimeoutMs;
    this.parser = new EslParser(options.parser);
    this.onBadFrame = options.onBadFrame;
    socket.setNoDelay(true);
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onSocketClose);
    if (socket.destroyed) queueMicrotask(this.onSocketClose);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Commands and jobs whose callers still wait. */
  pendingCount(): number {
    let n = this.jobs.size;
    for (const s of this.slots) if (!s.settled) n++;
    return n;
  }

  /** Reply slots still queued, including those of timed-out commands whose reply has not come yet. */
  queuedReplies(): number {
    return this.slots.length;
  }

  /** Listeners this connection holds on its socket (0 once closed). */
  socketListenerCount(): number {
    return (['data', 'error', 'close'] as const).reduce((n, e) => n + this.socket.listenerCount(e), 0);
  }

  /**
   * Sends a command (first line + optional header lines, no blank line) and resolves with its reply;
   * `-ERR`/`-USAGE` replies reject with EslCommandError. `body` is sent with a Content-Length header.
   */
  command(text: string, options: CommandOptions = {}, body?: string): Promise<EslReply> {
    if (/\n\r?\n/.test(text) || text.endsWith('\n')) {
      return Promise.reject(new InvalidInputError('ESL command must not contain a blank line'));
    }
    if (this.isClosed) return Promise.reject(new EslError('E_ESL_CLOSED', 'ESL connection closed'));
    const slot = createWaiter<EslReply>(
      'ESL command',
      options.timeoutMs ?? this.commandTimeoutMs,
      options.signal,
    );
    if (slot.settled) return slot.promise;
    this.slots.push(slot);
    const wire =
      body === undefined
        ? `${text}\n\n`
        : `${text}\nContent-Length: ${Buffer.byteLength(body, 'utf8')}\n\n${body}`;
    this.socket.write(wire);
    return slot.promise;
  }

  /** `api <command>`: resolves with the output; `-ERR`/`-USAGE` output rejects with EslCommandError. */
  async api(command: string, options: CommandOptions = {}): Promise<string> {
    assertOneLine('api command', command);
    const reply = await this.command(`api ${command}`, options);
    return reply.text;
  }

  /** `bgapi <command>` with our own Job-UUID; resolves with the BACKGROUND_JOB body (`-ERR` rejects). */
  async bgapi(command: string, options: CommandOptions = {}): Promise<string> {
    assertOneLine('bgapi command', command);
    const jobUuid = randomUUID();
    const timeoutMs = options.timeoutMs ?? this.commandTimeoutMs;
    const job = createWaiter<EslEvent>('ESL bgapi job', timeoutMs, options.signal, () =>
      this.jobs.delete(jobUuid),
    );
    ignoreRejection(job.promise);
    if (!job.settled) this.jobs.set(jobUuid, job);
    try {
      await this.command(`bgapi ${command}\nJob-UUID: ${jobUuid}`, options);
    } catch (err) {
      job.reject(err as Error);
      throw err;
    }
    const event = await job.promise;
    const output = event.body ?? '';
    if (isErrorText(output)) throw new EslCommandError(`bgapi failed: ${output.trim()}`, output);
    return output;
  }

  /** Half-closes our side: FreeSWITCH then sends its last notice and closes. */
  end(): void {
    if (!this.isClosed) this.socket.end();
  }

  /** Closes the socket now; pending commands reject with E_ESL_CLOSED. */
  destroy(reason?: Error): void {
    if (this.isClosed) return;
    if (reason !== undefined && this.closeReason === undefined) this.closeReason = reason;
    this.socket.destroy();
    // The socket's close event comes a loop turn later; what it buffered is returned to the budget now.
    this.parser.dispose();
  }

  private readonly onData = (chunk: Buffer): void => {
    if (this.isClosed || this.socket.destroyed) return;
    try {
      this.parser.push(chunk, this.onFrame);
    } catch (err) {
      const e =
        err instanceof EslError
          ? err
          : new EslError('E_ESL_PROTOCOL', 'ESL frame handling failed', { cause: err });
      if (this.onBadFrame !== undefined) this.onBadFrame(e);
      else this.log.warn({ err: e, code: e.code }, 'esl connection dropped: bad frame');
      this.destroy(e);
    }
  };

  private readonly onFrame = (frame: EslFrame): void => {
    if (this.isClosed) return;
    try {
      switch (frame.contentType) {
        case 'command/reply':
        case 'api/response':
          this.onReply(frame);
          return;
        case 'text/event-plain':
        case 'text/event-json':
          if (frame.event === undefined)
            this.log.warn({ contentType: frame.contentType }, 'esl event dropped: unparseable');
          else this.onEvent(frame.event);
          return;
        default:
          this.handlers.onNotice(frame);
      }
    } catch (err) {
      // A consumer's handler threw: never let it break framing for the rest of the stream.
      this.log.error({ err }, 'esl frame handler threw');
    }
  };

  private onReply(frame: EslFrame): void {
    const slot = this.slots.shift();
    const text =
      frame.contentType === 'api/response' ? (frame.body ?? '') : (frame.headers['Reply-Text'] ?? '');
    if (slot === undefined) {
      this.log.warn({ contentType: frame.contentType }, 'esl reply without a command');
      return;
    }
    if (slot.settled) return; // its caller gave up (timeout/abort); the slot only kept the order
    if (isErrorText(text)) slot.reject(new EslCommandError(`ESL command failed: ${text.trim()}`, text));
    else slot.resolve({ contentType: frame.contentType, headers: frame.headers, body: frame.body, text });
  }

  private onEvent(event: EslEvent): void {
    if (event.name === 'BACKGROUND_JOB') this.jobs.get(event.jobUuid)?.resolve(event);
    this.handlers.onEvent(event);
  }

  private readonly onError = (err: Error): void => {
    if (this.closeReason === undefined) this.closeReason = err;
    this.log.debug({ err }, 'esl socket error');
  };

  private readonly onSocketClose = (): void => {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onSocketClose);
    this.parser.dispose(); // a half-received frame's buffer goes back to the shared budget
    const closed = new EslError('E_ESL_CLOSED', 'ESL connection closed', { cause: this.closeReason });
    for (const slot of this.slots.splice(0)) slot.reject(closed);
    for (const job of [...this.jobs.values()]) job.reject(closed);
    this.jobs.clear();
    try {
      this.handlers.onClose(this.closeReason);
    } catch (err) {
      this.log.error({ err }, 'esl close handler threw');
    }
  };
}
