import { awaitTransfer, hangupSession } from './channel-ops.js';
import type { Logger } from 'pino';
import type { OutboundSession } from '../esl/index.js';
import type { ExecuteResult } from '../esl/index.js';
import { CallHangupError, EslError, ExecuteTimeoutError, isAbort } from '../core/errors.js';
import { readFile } from 'node:fs/promises';
import { hasSpeech, scaledSilenceThreshold } from '../audio/energy.js';
import { parseWav } from '../audio/wav.js';
import type { Clock } from '../core/clock.js';
import {
  TERMINATORS,
  type Heard,
  type ListenOptions,
  type Media,
  type Playable,
  type Played,
} from '../conversation/media.js';
import { playLengthMs } from './play-length.js';

export interface FilesMediaOptions {
  /** Added to an execute's expected duration to bound its wait; 5000 ms by default. */
  executeMarginMs?: number;
}

/**
 * The `files` media backend over one outbound ESL session: the caller's turn is FreeSWITCH's `record` until
 * silence, speech is `playback` of a WAV. Half duplex, works on every FreeSWITCH. Every operation is an
 * event-locked `execute` that resolves on its CHANNEL_EXECUTE_COMPLETE, so operations run strictly in order.
 * No execute waits longer than its expected duration plus a margin: a peer that never completes one once
 * held a call far past max_call_seconds.
 */
export class FilesMedia implements Media {
  readonly kind = 'files' as const;
  readonly speaks = true;
  readonly callUuid: string;
  readonly sampleRateHz: number;
  readonly #session: OutboundSession;
  readonly #log: Logger;
  readonly #marginMs: number;
  /** DTMF digits seen since the current execute started; tells a real terminator from a stale variable. */
  #digits: string[] = [];

  readonly #clock: Clock;

  constructor(session: OutboundSession, log: Logger, clock: Clock, opts: FilesMediaOptions = {}) {
    this.#session = session;
    this.#log = log;
    this.#clock = clock;
    this.#marginMs = opts.executeMarginMs ?? 5000;
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
    await this.#exec('set', `playback_terminators=${TERMINATORS}`, signal, 0);
    if (this.#session.channel.answerState !== 'answered') await this.#exec('answer', '', signal, 0);
  }

  async play(item: Playable, signal: AbortSignal): Promise<Played> {
    if (item.file === undefined) return { status: 'not_found', playedMs: 0 };
    const r = await this.#exec('playback', item.file, signal, await playLengthMs(item.file));
    const digit = this.#terminator(r);
    const playedMs = Number.parseInt(r.variables['playback_ms'] ?? '0', 10) || 0;
    const status =
      r.response === 'FILE NOT FOUND'
        ? 'not_found'
        : r.response === 'PLAYBACK ERROR'
          ? 'error'
          : digit !== undefined
            ? 'interrupted'
            : 'done';
    if (status === 'not_found' || status === 'error')
      this.#log.warn({ file: item.file, response: r.response }, 'playback failed');
    return digit === undefined ? { status, playedMs } : { status, digit, playedMs };
  }

  /** Playback cannot be cut from here without a digit; half duplex has nothing queued to drop. */
  clear(): void {}

  async listen(opts: ListenOptions, signal: AbortSignal): Promise<Heard> {
    const threshold = scaledSilenceThreshold(opts.silenceThreshold, this.sampleRateHz);
    const arg = `${opts.file} ${opts.maxSeconds} ${threshold} ${opts.silenceSeconds}`;
    const r = await this.#exec('record', arg, signal, opts.maxSeconds * 1000);
    const endedAt = this.#clock.monotonicMs();
    const listenedMs = Number.parseInt(r.variables['record_ms'] ?? '0', 10) || 0;
    // FreeSWITCH's record ends after silence_seconds of silence: the caller stopped that long ago (unless
    // the recording ran into its length limit), and dead air counts from there.
    const bySilence = listenedMs < opts.maxSeconds * 1000 - 250;
    const speechEndedAt = bySilence ? endedAt - opts.silenceSeconds * 1000 : endedAt;
    const digit = this.#terminator(r);
    if (digit !== undefined) return { type: 'digit', digit };
    const audio = await this.#readRecording(opts.file);
    if (!audio || !hasSpeech(audio.samples, audio.sampleRateHz, { threshold: opts.silenceThreshold })) {
      return { type: 'silence', listenedMs };
    }
    return { type: 'audio', audio, speechEndedAt, listenedMs };
  }

  async #readRecording(file: string): Promise<{ samples: Int16Array; sampleRateHz: number } | undefined> {
    try {
      const wav = parseWav(await readFile(file));
      return { samples: wav.samples, sampleRateHz: wav.sampleRateHz };
    } catch (err) {
      this.#log.warn({ err, file }, 'caller recording unreadable');
      return undefined;
    }
  }

  async transfer(destination: string, context: string, signal: AbortSignal): Promise<void> {
    await awaitTransfer(this.#exec('transfer', `${destination} XML ${context}`, signal, 0));
  }

  async hangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    await hangupSession(this.#session, cause);
  }

  /** Releases what this media holds on the session. */
  dispose(): void {
    this.#session.off('dtmf', this.#onDtmf);
  }

  async #exec(app: string, arg: string, signal: AbortSignal, expectedMs: number): Promise<ExecuteResult> {
    this.#digits = [];
    const timeoutMs = expectedMs + this.#marginMs;
    try {
      return await this.#session.execute(app, arg, { signal, timeoutMs });
    } catch (err) {
      const timedOut = err instanceof EslError && err.code === 'E_ESL_TIMEOUT';
      // Cancelled or given up by us (not by a hangup): stop what FreeSWITCH is still playing or recording.
      if (
        (timedOut || isAbort(err)) &&
        !(err instanceof CallHangupError) &&
        !this.#session.hangupSignal.aborted
      ) {
        await this.#session
          .api(`uuid_break ${this.callUuid} all`, { timeoutMs: this.#marginMs })
          .catch(() => undefined);
      }
      if (!timedOut) throw err;
      this.#log.warn({ app, timeoutMs }, 'execute did not complete in time: gave up on it');
      throw new ExecuteTimeoutError(app, timeoutMs);
    }
  }

  #terminator(r: ExecuteResult): string | undefined {
    const used = r.variables['playback_terminator_used'];
    if (used === undefined || used === '' || !TERMINATORS.includes(used)) return undefined;
    return this.#digits.includes(used) ? used : undefined;
  }
}
