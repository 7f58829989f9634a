/**
 * Energy VAD with FreeSWITCH's own measure, so "speech" here means what `record`'s silence detection means.
 *
 * FreeSWITCH (switch_ivr_record_file) scores each 20 ms frame as
 *   score = sum(|x|) / (samples / divisor),  divisor = max(1, floor(rateHz / 8000))
 * i.e. the mean absolute amplitude multiplied by the divisor: the same sound scores 2x at 16 kHz and 6x at
 * 48 kHz, and a frame is silent when score < silence_thresh. We express every threshold as a plain mean
 * absolute amplitude (what FreeSWITCH compares at 8 kHz), measure that directly at any rate, and convert only
 * when building the `record` argument (`scaledSilenceThreshold`), so one configured number means the same
 * loudness on narrowband and wideband calls.
 */
import { FRAME_MS, frameSamples } from './frames.js';

/** Default speech threshold: mean absolute amplitude (16-bit scale) of a 20 ms frame. */
export const DEFAULT_SPEECH_THRESHOLD = 200;

/** Mean absolute amplitude of `samples[offset, offset + len)`; 0 for an empty range. */
export function frameEnergy(samples: Int16Array, offset = 0, len = samples.length - offset): number {
  const end = Math.min(samples.length, offset + len);
  const start = Math.max(0, offset);
  if (end <= start) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const v = samples[i] ?? 0;
    sum += v < 0 ? -v : v;
  }
  return sum / (end - start);
}

/**
 * The `silence_thresh` argument for FreeSWITCH's `record` on a channel at `rateHz` that means "mean absolute
 * amplitude below `threshold8k`" (FreeSWITCH multiplies its score by floor(rateHz / 8000)).
 */
export function scaledSilenceThreshold(threshold8k: number, rateHz: number): number {
  return Math.round(threshold8k * Math.max(1, Math.floor(rateHz / 8000)));
}

export interface SpeechOptions {
  /** Mean absolute amplitude a 20 ms frame must reach to count as voiced. */
  threshold?: number;
  /** Voiced time (sum of voiced frames, not necessarily consecutive) needed to call it speech. */
  minSpeechMs?: number;
}

/** Milliseconds of voiced 20 ms frames (mean absolute amplitude >= threshold); a partial last frame is ignored. */
export function voicedMs(samples: Int16Array, rateHz: number, threshold = DEFAULT_SPEECH_THRESHOLD): number {
  const n = frameSamples(rateHz, FRAME_MS);
  let voiced = 0;
  for (let off = 0; off + n <= samples.length; off += n) {
    if (frameEnergy(samples, off, n) >= threshold) voiced++;
  }
  return voiced * FRAME_MS;
}

/**
 * True when the recording holds at least `minSpeechMs` of voiced frames. A recording without speech counts as
 * silence: it is never sent to STT (vendors hallucinate words from line noise and bill for it).
 */
export function hasSpeech(samples: Int16Array, rateHz: number, opts: SpeechOptions = {}): boolean {
  const { threshold = DEFAULT_SPEECH_THRESHOLD, minSpeechMs = 200 } = opts;
  return voicedMs(samples, rateHz, threshold) >= minSpeechMs;
}

export type VadEvent =
  { type: 'speech-start'; atMs: number } | { type: 'speech-end'; atMs: number; speechMs: number };

export interface EnergyVadOptions {
  sampleRateHz: number;
  threshold?: number;
  /** Consecutive voiced time before speech starts (filters clicks and coughs). */
  startMs?: number;
  /** Consecutive unvoiced time before speech ends (pauses between words are shorter). */
  endMs?: number;
}

/** Streaming detector over 20 ms frames, for live audio (mod_audio_stream); times count from the first push. */
export interface EnergyVad {
  /** Feeds any number of samples; returns the transitions they caused, in order. */
  push(samples: Int16Array): VadEvent[];
  readonly speaking: boolean;
  reset(): void;
}

export function createEnergyVad(opts: EnergyVadOptions): EnergyVad {
  const { sampleRateHz, threshold = DEFAULT_SPEECH_THRESHOLD, startMs = 100, endMs = 700 } = opts;
  const n = frameSamples(sampleRateHz, FRAME_MS);
  let frame = new Int16Array(n);
  let fill = 0;
  let frames = 0;
  let speaking = false;
  let run = 0; // consecutive frames disagreeing with the current state
  let startedAt = 0;

  const onFrame = (out: VadEvent[]): void => {
    frames++;
    const voiced = frameEnergy(frame, 0, n) >= threshold;
    run = voiced === speaking ? 0 : run + 1;
    if (!speaking && run * FRAME_MS >= startMs) {
      speaking = true;
      run = 0;
      startedAt = (frames - Math.ceil(startMs / FRAME_MS)) * FRAME_MS;
      out.push({ type: 'speech-start', atMs: startedAt });
    } else if (speaking && run * FRAME_MS >= endMs) {
      speaking = false;
      run = 0;
      const endedAt = (frames - Math.ceil(endMs / FRAME_MS)) * FRAME_MS;
      out.push({ type: 'speech-end', atMs: endedAt, speechMs: endedAt - startedAt });
    }
  };

  return {
    push(samples) {
      const out: VadEvent[] = [];
      let off = 0;
      while (off < samples.length) {
        const take = Math.min(n - fill, samples.length - off);
        frame.set(samples.subarray(off, off + take), fill);
        fill += take;
        off += take;
        if (fill === n) {
          onFrame(out);
          fill = 0;
        }
      }
      return out;
    },
    get speaking() {
      return speaking;
    },
    reset() {
      frame = new Int16Array(n);
      fill = frames = run = startedAt = 0;
      speaking = false;
    },
  };
}
