/**
 * Finds caller turns in live audio: 20 ms frames in, `speech_start` / `barge_in` / `end_of_turn` / `noise` out.
 * This is what replaces FreeSWITCH's `record`-until-silence on the streaming backends: the end of a turn is
 * known `endSilenceMs` after the caller's last voiced frame (600 ms by default, against `record`'s 2 s), and
 * the utterance is ready for a batch STT at that moment.
 *
 * The voiced/unvoiced decision per frame is a FrameClassifier, so the energy measure used today and a neural
 * VAD (Silero) are interchangeable. Memory is bounded: an utterance longer than `maxUtteranceMs` is cut
 * there (`forced: true`), and the pre-roll is a fixed ring.
 */
import { createFramer, FRAME_MS, frameSamples } from '../audio/frames.js';
import { DEFAULT_SPEECH_THRESHOLD, frameEnergy } from '../audio/energy.js';
import { InvalidInputError } from '../core/errors.js';

/** True when one 20 ms frame is voiced. */
export type FrameClassifier = (frame: Int16Array) => boolean;

/** FreeSWITCH's measure (mean absolute amplitude, see audio/energy.ts) against a threshold. */
export function energyClassifier(threshold: number = DEFAULT_SPEECH_THRESHOLD): FrameClassifier {
  return (frame) => frameEnergy(frame) >= threshold;
}

export interface EndpointerOptions {
  sampleRateHz: number;
  classify?: FrameClassifier;
  /** Voiced time (frames, not necessarily consecutive) before speech is said to start. Default 60 ms. */
  startMs?: number;
  /** Voiced time in one utterance before it may interrupt the secretary. Default 250 ms. */
  bargeInMs?: number;
  /** Trailing unvoiced time that ends a turn. Default 600 ms. */
  endSilenceMs?: number;
  /** Voiced time an utterance needs to count as a turn; shorter ones (a cough, a click) are `noise`. 200 ms. */
  minSpeechMs?: number;
  /** An utterance is cut (and reported, `forced`) at this length. Default 30 s. */
  maxUtteranceMs?: number;
  /** Audio kept from before speech started, so the STT hears the first syllable whole. Default 200 ms. */
  preRollMs?: number;
}

/** Times are milliseconds of audio pushed since the endpointer was created (or reset). */
export type EndpointEvent =
  | { type: 'speech_start'; atMs: number }
  /** The utterance reached `bargeInMs` of voiced audio: real speech, not a short noise. Once per utterance. */
  | { type: 'barge_in'; atMs: number; speechStartedAtMs: number }
  | {
      type: 'end_of_turn';
      /** The utterance from its pre-roll to the end of its last voiced frame. */
      samples: Int16Array;
      startedAtMs: number;
      /** End of the last voiced frame: the caller's end of speech, where turn latency counts from. */
      speechEndedAtMs: number;
      /** When the endpointer decided (speechEndedAtMs + endSilenceMs, unless forced). */
      atMs: number;
      voicedMs: number;
      forced: boolean;
    }
  | { type: 'noise'; atMs: number; voicedMs: number };

export interface Endpointer {
  /** Feeds samples (any length, split into 20 ms frames); returns what they caused, in order. */
  push(samples: Int16Array): EndpointEvent[];
  /** True between speech_start and the utterance's end. */
  readonly inSpeech: boolean;
  /** Milliseconds of audio seen. */
  readonly elapsedMs: number;
  /** Forgets the current utterance (e.g. while the caller is not being listened to). */
  reset(): void;
}

export function createEndpointer(opts: EndpointerOptions): Endpointer {
  const n = frameSamples(opts.sampleRateHz, FRAME_MS);
  const classify = opts.classify ?? energyClassifier();
  const frames = (ms: number | undefined, dflt: number, name: string): number => {
    const v = ms ?? dflt;
    if (!Number.isFinite(v) || v < 0)
      throw new InvalidInputError(`endpointer ${name} must be >= 0, got ${v}`);
    return Math.max(1, Math.round(v / FRAME_MS));
  };
  const startFrames = frames(opts.startMs, 60, 'startMs');
  const bargeFrames = frames(opts.bargeInMs, 250, 'bargeInMs');
  const endFrames = frames(opts.endSilenceMs, 600, 'endSilenceMs');
  const minFrames = frames(opts.minSpeechMs, 200, 'minSpeechMs');
  const maxFrames = frames(opts.maxUtteranceMs, 30_000, 'maxUtteranceMs');
  const preFrames = Math.round((opts.preRollMs ?? 200) / FRAME_MS);

  // Fresh arrays per frame, so they can be kept as pre-roll and utterance without a copy.
  const framer = createFramer(opts.sampleRateHz, FRAME_MS);
  let index = 0; // frames seen
  // Pre-roll ring of the last preFrames frames before a candidate started.
  const ring: Int16Array[] = [];
  // The utterance (candidate or speech): frames from its first voiced frame on.
  let utter: Int16Array[] = [];
  let pre: Int16Array[] = [];
  let state: 'idle' | 'candidate' | 'speech' = 'idle';
  let startIndex = 0;
  let voiced = 0;
  let lastVoiced = 0; // index of the frame after the last voiced one
  let bargedIn = false;

  const ms = (frameIndex: number): number => frameIndex * FRAME_MS;
  const toIdle = (): void => {
    state = 'idle';
    utter = [];
    pre = [];
    voiced = 0;
    bargedIn = false;
  };

  const finish = (out: EndpointEvent[], forced: boolean): void => {
    const kept = lastVoiced - startIndex; // frames up to the end of the last voiced one
    if (voiced >= minFrames) {
      const parts = [...pre, ...utter.slice(0, kept)];
      const samples = new Int16Array(parts.length * n);
      parts.forEach((p, i) => samples.set(p, i * n));
      out.push({
        type: 'end_of_turn',
        samples,
        startedAtMs: ms(startIndex),
        speechEndedAtMs: ms(lastVoiced),
        atMs: ms(index),
        voicedMs: ms(voiced),
        forced,
      });
    } else {
      out.push({ type: 'noise', atMs: ms(index), voicedMs: ms(voiced) });
    }
    toIdle();
  };

  const onFrame = (copy: Int16Array, out: EndpointEvent[]): void => {
    const isVoiced = classify(copy);
    index++;
    if (state === 'idle') {
      if (!isVoiced) {
        ring.push(copy);
        if (ring.length > preFrames) ring.shift();
        return;
      }
      state = 'candidate';
      startIndex = index - 1;
      pre = ring.splice(0);
    }
    utter.push(copy);
    if (isVoiced) {
      voiced++;
      lastVoiced = index;
    }
    if (state === 'candidate') {
      if (voiced >= startFrames) {
        state = 'speech';
        out.push({ type: 'speech_start', atMs: ms(startIndex) });
      } else if (index - lastVoiced >= endFrames) {
        // Never became speech: a click. Its frames go back to being pre-roll for the next one.
        out.push({ type: 'noise', atMs: ms(index), voicedMs: ms(voiced) });
        ring.push(...utter.slice(-preFrames));
        ring.splice(0, Math.max(0, ring.length - preFrames));
        toIdle();
        return;
      }
    }
    if (state === 'speech') {
      if (!bargedIn && voiced >= bargeFrames) {
        bargedIn = true;
        out.push({ type: 'barge_in', atMs: ms(index), speechStartedAtMs: ms(startIndex) });
      }
      if (index - lastVoiced >= endFrames) finish(out, false);
      else if (utter.length >= maxFrames) {
        lastVoiced = index;
        finish(out, true);
      }
    }
  };

  return {
    push(samples) {
      const out: EndpointEvent[] = [];
      for (const f of framer.push(samples)) onFrame(f, out);
      return out;
    },
    get inSpeech() {
      return state === 'speech';
    },
    get elapsedMs() {
      return ms(index);
    },
    reset() {
      toIdle();
      ring.length = 0;
      framer.flush(); // drops the partial frame
    },
  };
}
