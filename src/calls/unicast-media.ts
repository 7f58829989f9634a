import { awaitTransfer, hangupSession } from './channel-ops.js';
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { scaledSilenceThreshold } from '../audio/energy.js';
import { resample } from '../audio/resample.js';
import { parseWav } from '../audio/wav.js';
import type { Clock } from '../core/clock.js';
import { CallHangupError } from '../core/errors.js';
import {
  TERMINATORS,
  type Heard,
  type ListenOptions,
  type Media,
  type Playable,
  type Played,
} from '../conversation/media.js';
import type { OutboundSession } from '../esl/index.js';
import {
  createEndpointer,
  energyClassifier,
  type EndpointEvent,
  type FrameClassifier,
  type Endpointer,
  type EndpointerOptions,
} from '../media/endpointer.js';
import { openUnicastEndpoint, unicastCommand, type UnicastEndpoint } from '../media/unicast.js';

export interface UnicastSettings {
  /** Our address (FreeSWITCH's remote-ip) and our port range. */
  bind: string;
  ports: { min: number; max: number };
  /** FreeSWITCH's address (its local-ip): the only source accepted. */
  freeswitchIp: string;
  /** No caller frame this long after the unicast command: FreeSWITCH could not bind; use files. */
  firstFrameTimeoutMs: number;
}

export interface UnicastListening {
  /** The secretary's threshold at 8 kHz (FreeSWITCH's measure), scaled to the channel rate here. */
  silenceThreshold: number;
  /** The call's own frame classifier at its rate (Silero); energy at `silenceThreshold` when absent. */
  classifier?: (rateHz: 8000 | 16000) => Promise<FrameClassifier | undefined>;
  /** Caller speech while the secretary speaks stops the playout (default on). */
  bargeIn?: boolean;
  /** Bounds the transfer execute, as FilesMedia bounds every execute (VOICE_AI_EXECUTE_MARGIN_MS). 5000 ms. */
  executeMarginMs?: number;
  endpointer?: Omit<EndpointerOptions, 'sampleRateHz' | 'classify'>;
  /** A listen with no speech starting this long is a silent turn. Default 5000 ms. */
  noInputMs?: number;
}

/** Caller turns waiting for listen(); more than this and the oldest is dropped (a caller talking to no one). */
const MAX_PENDING_TURNS = 4;
/** Trailing silence that ends a turn when Silero classifies the frames (energy: the endpointer's 600 ms). */
const SILERO_END_SILENCE_MS = 500;
/** No caller frame for this long while listening: FreeSWITCH stopped sending (the unicast ended). */
const FRAMES_STOPPED_MS = 2000;

/**
 * Starts unicast on the call and returns the media, or undefined when FreeSWITCH sent nothing within the
 * first-frame timeout (its reply is +OK even when it could not bind). Then nothing was played or recorded on
 * the channel, so the call can still go on `files`; a second unicast would not work anyway (reference §2a).
 * The channel must be answered first (unicast needs media) and still parked in the socket app.
 */
export async function startUnicastMedia(
  session: OutboundSession,
  settings: UnicastSettings,
  listening: UnicastListening,
  log: Logger,
  clock: Clock,
  signal: AbortSignal,
): Promise<UnicastMedia | undefined> {
  const rate = session.channel.readRateHz === 16000 ? 16000 : session.channel.readRateHz === 8000 ? 8000 : 0;
  if (rate === 0) {
    log.info({ readRateHz: session.channel.readRateHz }, 'unicast needs an 8 or 16 kHz channel: using files');
    return undefined;
  }
  const endpoint = await openUnicastEndpoint({
    bindHost: settings.bind,
    portRange: settings.ports,
    freeswitchHost: settings.freeswitchIp,
    sampleRateHz: rate,
    log,
  });
  // FreeSWITCH binds the same offset in the range right above ours: one pair per call, no coordination.
  const fsPort = endpoint.localPort + (settings.ports.max - settings.ports.min + 1);
  try {
    await session.sendmsg(unicastCommand(endpoint, { ip: settings.freeswitchIp, port: fsPort }), { signal });
    const flowing = await endpoint.firstFrame(settings.firstFrameTimeoutMs, signal);
    if (!flowing) {
      log.warn(
        { localPort: endpoint.localPort, freeswitchPort: fsPort, waitedMs: settings.firstFrameTimeoutMs },
        'unicast sent no audio: FreeSWITCH could not start it; this call uses files',
      );
      await endpoint.close();
      return undefined;
    }
  } catch (err) {
    await endpoint.close();
    throw err;
  }
  const classify = await listening.classifier?.(rate).catch((err: unknown) => {
    log.warn({ err }, 'VAD unavailable: using the energy detector');
    return undefined;
  });
  log.info(
    {
      localPort: endpoint.localPort,
      freeswitchPort: fsPort,
      rateHz: rate,
      vad: classify ? 'silero' : 'energy',
    },
    'unicast media started',
  );
  return new UnicastMedia(session, endpoint, listening, log, clock, classify);
}

/**
 * The `unicast` backend: the caller's frames arrive over UDP and run through the endpointer all call long,
 * the secretary's speech goes out as paced datagrams. Full duplex: the caller is heard while the secretary
 * speaks, and speech of at least `bargeInMs` stops the playout at once (barge-in). Once a call is on unicast
 * nothing may run playback, record or speak on the channel (any of them ends unicast for good), so every
 * phrase goes out as datagrams too.
 */
export class UnicastMedia implements Media {
  readonly kind = 'unicast' as const;
  readonly speaks = true;
  readonly callUuid: string;
  readonly sampleRateHz: number;
  readonly #session: OutboundSession;
  readonly #endpoint: UnicastEndpoint;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #endpointer: Endpointer;
  readonly #bargeIn: boolean;
  readonly #noInputMs: number;
  readonly #marginMs: number;
  readonly #pending: Heard[] = [];
  #wake: (() => void) | undefined;
  /** Set while a play() runs: how it was cut short. */
  #playing: { digit?: string; bargedIn: boolean } | undefined;
  /** The utterance under way began while the secretary spoke and did not barge in: a backchannel, dropped. */
  #overTalk = false;
  #lastFrameAt: number;
  readonly #unsubscribe: () => void;

  constructor(
    session: OutboundSession,
    endpoint: UnicastEndpoint,
    listening: UnicastListening,
    log: Logger,
    clock: Clock,
    classify?: FrameClassifier,
  ) {
    this.#session = session;
    this.#endpoint = endpoint;
    this.#log = log;
    this.#clock = clock;
    this.callUuid = session.channel.uniqueId;
    this.sampleRateHz = endpoint.sampleRateHz;
    this.#bargeIn = listening.bargeIn ?? true;
    this.#noInputMs = listening.noInputMs ?? 5000;
    this.#marginMs = listening.executeMarginMs ?? 5000;
    this.#endpointer = createEndpointer({
      // Silero holds speech ~100 ms past its end (hangover, 32 ms windows, one frame of lag): 500 ms of its
      // silence lands where 600 ms of the energy detector's does (docs/PERFORMANCE.md).
      ...(classify ? { endSilenceMs: SILERO_END_SILENCE_MS } : {}),
      ...listening.endpointer,
      sampleRateHz: this.sampleRateHz,
      classify:
        classify ?? energyClassifier(scaledSilenceThreshold(listening.silenceThreshold, this.sampleRateHz)),
    });
    this.#lastFrameAt = clock.monotonicMs();
    this.#unsubscribe = endpoint.onFrame((frame) => this.#onFrame(frame));
    session.on('dtmf', this.#onDtmf);
  }

  get hangupSignal(): AbortSignal {
    return this.#session.hangupSignal;
  }

  /** Answered before unicast started (startUnicastMedia). */
  async answer(): Promise<void> {}

  #onFrame(frame: Int16Array): void {
    this.#lastFrameAt = this.#clock.monotonicMs();
    this.#handle(this.#endpointer.push(frame));
    this.#wake?.();
  }

  #handle(events: readonly EndpointEvent[]): void {
    for (const ev of events) {
      switch (ev.type) {
        case 'speech_start':
          this.#overTalk = this.#playing !== undefined;
          break;
        case 'barge_in':
          if (this.#playing !== undefined && this.#bargeIn) {
            this.#playing.bargedIn = true;
            this.#overTalk = false;
            this.#endpoint.clear();
            this.#log.info({ speechMs: ev.atMs - ev.speechStartedAtMs }, 'barge-in: playout stopped');
          }
          break;
        case 'end_of_turn': {
          if (this.#overTalk) {
            this.#overTalk = false;
            this.#log.debug({ voicedMs: ev.voicedMs }, 'speech over the secretary below barge-in: ignored');
            break;
          }
          // The endpointer decided `atMs - speechEndedAtMs` after the caller stopped: count from the stop.
          const speechEndedAt = this.#clock.monotonicMs() - (ev.atMs - ev.speechEndedAtMs);
          this.#push({
            type: 'audio',
            audio: { samples: ev.samples, sampleRateHz: this.sampleRateHz },
            speechEndedAt,
            listenedMs: ev.atMs - ev.startedAtMs,
          });
          break;
        }
        case 'noise':
          this.#overTalk = false;
          break;
      }
    }
  }

  readonly #onDtmf = (digit: string): void => {
    if (!TERMINATORS.includes(digit)) return;
    if (this.#playing !== undefined) {
      this.#playing.digit ??= digit;
      this.#endpoint.clear();
      return;
    }
    this.#push({ type: 'digit', digit });
  };

  #push(h: Heard): void {
    if (this.#pending.length >= MAX_PENDING_TURNS) {
      this.#pending.shift();
      this.#log.warn('caller turns piling up unheard: dropped the oldest');
    }
    this.#pending.push(h);
    this.#wake?.();
  }

  /**
   * The caller's next turn: one already waiting, the next end of turn, a digit, or silence once `noInputMs`
   * of caller audio passed with no speech starting (counted in audio, so it holds at any pace; speech under
   * way is always waited for). If FreeSWITCH stops sending altogether, silence after 2 s without a frame.
   */
  async listen(_opts: ListenOptions, signal: AbortSignal): Promise<Heard> {
    const ready = this.#pending.shift();
    if (ready !== undefined) return ready;
    signal.throwIfAborted();
    if (this.#session.hangupSignal.aborted) throw new CallHangupError('call hung up');
    const fromMs = this.#endpointer.elapsedMs;
    return new Promise<Heard>((resolve, reject) => {
      const finish = (h: Heard | Error): void => {
        clearInterval(watchdog);
        signal.removeEventListener('abort', onAbort);
        this.#session.hangupSignal.removeEventListener('abort', onAbort);
        this.#wake = undefined;
        if (h instanceof Error) reject(h);
        else resolve(h);
      };
      const onAbort = (): void =>
        finish(
          signal.aborted
            ? signal.reason instanceof Error
              ? signal.reason
              : new Error(String(signal.reason))
            : new CallHangupError('call hung up'),
        );
      this.#wake = () => {
        const next = this.#pending.shift();
        if (next !== undefined) return finish(next);
        const heardMs = this.#endpointer.elapsedMs - fromMs;
        if (heardMs >= this.#noInputMs && !this.#endpointer.inSpeech)
          finish({ type: 'silence', listenedMs: heardMs });
      };
      const watchdog = setInterval(() => {
        if (this.#clock.monotonicMs() - this.#lastFrameAt < FRAMES_STOPPED_MS) return;
        this.#log.warn({ stoppedMs: FRAMES_STOPPED_MS }, 'unicast audio stopped arriving');
        finish({ type: 'silence', listenedMs: this.#endpointer.elapsedMs - fromMs });
      }, 250);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#session.hangupSignal.addEventListener('abort', onAbort, { once: true });
    });
  }

  async play(item: Playable, signal: AbortSignal): Promise<Played> {
    if (item.file === undefined) return { status: 'not_found', playedMs: 0 };
    let samples: Int16Array;
    try {
      const wav = parseWav(await readFile(item.file));
      samples =
        wav.sampleRateHz === this.sampleRateHz
          ? wav.samples
          : resample(wav.samples, wav.sampleRateHz, this.sampleRateHz);
    } catch (err) {
      this.#log.warn({ err, file: item.file }, 'prompt unreadable: not played');
      return { status: 'error', playedMs: 0 };
    }
    const durationMs = Math.round((samples.length * 1000) / this.sampleRateHz);
    const state: { digit?: string; bargedIn: boolean } = { bargedIn: false };
    this.#playing = state;
    try {
      const r = await this.#endpoint.play(samples, signal);
      signal.throwIfAborted();
      if (this.#session.hangupSignal.aborted) throw new CallHangupError('call hung up');
      const playedMs = Math.round(r.playedMs);
      if (state.digit !== undefined)
        return { status: 'interrupted', digit: state.digit, playedMs, durationMs };
      if (r.interrupted || state.bargedIn) return { status: 'interrupted', playedMs, durationMs };
      return { status: 'done', playedMs, durationMs };
    } finally {
      this.#playing = undefined;
    }
  }

  clear(): void {
    this.#endpoint.clear();
  }

  async transfer(destination: string, context: string, signal: AbortSignal): Promise<void> {
    // The transfer ends unicast on FreeSWITCH's side; ours closes with the media.
    this.#endpoint.clear();
    const arg = `${destination} XML ${context}`;
    await awaitTransfer(this.#session.execute('transfer', arg, { signal, timeoutMs: this.#marginMs }));
  }

  async hangup(cause = 'NORMAL_CLEARING'): Promise<void> {
    this.#endpoint.clear();
    await hangupSession(this.#session, cause);
  }

  /** Releases the UDP port and the session listener. */
  async dispose(): Promise<void> {
    this.#unsubscribe();
    this.#session.off('dtmf', this.#onDtmf);
    this.#wake?.();
    await this.#endpoint.close();
  }
}
