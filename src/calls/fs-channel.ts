import type { Logger } from 'pino';
import type { OutboundSession } from '../esl/index.js';
import type { ExecuteResult } from '../esl/index.js';
import { CallHangupError, isAbort } from '../core/errors.js';
import {
  TERMINATORS,
  type Channel,
  type PlayResult,
  type RecordOptions,
  type RecordResult,
} from '../conversation/channel.js';

/**
 * The conversation's Channel over one outbound ESL session: every media operation is an event-locked
 * `execute` that resolves on its CHANNEL_EXECUTE_COMPLETE, so operations run strictly in order.
 */
export class FsChannel implements Channel {
  readonly callUuid: string;
  readonly sampleRateHz: number;
  readonly #session: OutboundSession;
  readonly #log: Logger;
  /** DTMF digits seen since the current execute started; tells a real terminator from a stale variable. */
  #digits: string[] = [];

  constructor(session: OutboundSession, log: Logger) {
    this.#session = session;
    this.#log = log;
    this.callUuid = session.channel.uniqueId;
    const rate = session.channel.readRateHz;
    // Only 8 kHz and 16 kHz make sense for our WAVs; anything else (48 kHz Opus) is fine at 16 kHz since
    // FreeSWITCH resamples files to the call's rate.
    this.sampleRateHz = rate === 8000 ? 8000 : 16000;
    session.on('dtmf', this.#onDtmf);
  }

  get hangupSignal(): AbortSignal {
    return this.#session.hangupSignal;
  }

  readonly #onDtmf = (digit: string): void => {
    this.#digits.push(digit);
  };

  async answer(signal: AbortSignal): Promise<void> {
    // `0` reaches the operator and `*` ends the call, during playback and recording alike.
    await this.#exec('set', `playback_terminators=${TERMINATORS}`, signal);
    if (this.#session.channel.answerState !== 'answered') await this.#exec('answer', '', signal);
  }

  async play(file: string, opts: { signal: AbortSignal }): Promise<PlayResult> {
    const r = await this.#exec('playback', file, opts.signal);
    const terminator = this.#terminator(r);
    const status =
      r.response === 'FILE NOT FOUND'
        ? 'not_found'
        : r.response === 'PLAYBACK ERROR'
          ? 'error'
          : terminator !== undefined
            ? 'break'
            : 'done';
    if (status === 'not_found' || status === 'error')
      this.#log.warn({ file, response: r.response }, 'playback failed');
    return terminator === undefined ? { status } : { status, terminator };
  }

  async record(file: string, opts: RecordOptions & { signal: AbortSignal }): Promise<RecordResult> {
    const arg = `${file} ${opts.maxSeconds} ${opts.silenceThreshold} ${opts.silenceSeconds}`;
    const r = await this.#exec('record', arg, opts.signal);
    const recordMs = Number.parseInt(r.variables['record_ms'] ?? '0', 10);
    const terminator = this.#terminator(r);
    const result: RecordResult = {
      recordMs: Number.isFinite(recordMs) ? recordMs : 0,
      silenceHitsExhausted: r.variables['silence_hits_exhausted'] === 'true',
    };
    return terminator === undefined ? result : { ...result, terminator };
  }

  async transfer(destination: string, context: string, signal: AbortSignal): Promise<void> {
    try {
      await this.#exec('transfer', `${destination} XML ${context}`, signal);
    } catch (err) {
      // The transfer takes the channel out of our socket: the session ending now is the success case.
      if (!(err instanceof CallHangupError)) throw err;
    }
  }

  async hangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    try {
      await this.#session.hangup(cause);
    } catch (err) {
      if (!this.#session.hangupSignal.aborted) throw err;
    }
  }

  /** Releases what this channel holds on the session. */
  dispose(): void {
    this.#session.off('dtmf', this.#onDtmf);
  }

  async #exec(app: string, arg: string, signal: AbortSignal): Promise<ExecuteResult> {
    this.#digits = [];
    try {
      return await this.#session.execute(app, arg, { signal });
    } catch (err) {
      // Cancelled by us (not by a hangup): stop what FreeSWITCH is still playing or recording.
      if (isAbort(err) && !(err instanceof CallHangupError) && !this.#session.hangupSignal.aborted) {
        await this.#session.api(`uuid_break ${this.callUuid} all`).catch(() => undefined);
      }
      throw err;
    }
  }

  #terminator(r: ExecuteResult): string | undefined {
    const used = r.variables['playback_terminator_used'];
    if (used === undefined || used === '' || !TERMINATORS.includes(used)) return undefined;
    return this.#digits.includes(used) ? used : undefined;
  }
}
