import { createHash } from 'node:crypto';
import { access, mkdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { createResampler } from '../audio/resample.js';
import { writeWavAtomic } from '../audio/wav.js';
import type { Clock } from '../core/clock.js';
import type { ProviderInfo, TtsProvider } from '../providers/types.js';
import { servedBy } from '../providers/wrap/fallback.js';

export interface SynthesisResult {
  file: string;
  /** From the request to the first PCM chunk. */
  firstByteMs: number;
  durationMs: number;
}

/**
 * Synthesizes `text` and writes it as a WAV at the channel's rate (FreeSWITCH would resample, but doing it
 * here once keeps playback cheap and the file small). The file appears atomically (temp name + rename).
 */
export async function synthesizeToFile(
  tts: TtsProvider,
  text: string,
  opts: {
    file: string;
    rateHz: number;
    voice?: string;
    language: string;
    signal: AbortSignal;
    clock: Clock;
    /** fsync the file (cached phrases); a call's sentence files skip it. Default true. */
    durable?: boolean;
  },
): Promise<SynthesisResult> {
  const started = opts.clock.monotonicMs();
  let firstByteMs = -1;
  let resampler: ReturnType<typeof createResampler> | undefined;
  let fromHz = 0;
  const parts: Int16Array[] = [];
  const ttsOpts =
    opts.voice === undefined ? { language: opts.language } : { language: opts.language, voice: opts.voice };
  for await (const chunk of tts.synthesize(text, ttsOpts, opts.signal)) {
    if (firstByteMs < 0) firstByteMs = opts.clock.monotonicMs() - started;
    if (!resampler || chunk.sampleRateHz !== fromHz) {
      if (resampler) parts.push(resampler.flush());
      fromHz = chunk.sampleRateHz;
      resampler = createResampler(fromHz, opts.rateHz);
    }
    parts.push(resampler.push(chunk.samples));
  }
  if (resampler) parts.push(resampler.flush());
  const total = parts.reduce((n, p) => n + p.length, 0);
  await writeWavAtomic(opts.file, parts, opts.rateHz, {
    durable: opts.durable ?? true,
    signal: opts.signal,
  });
  return { file: opts.file, firstByteMs: Math.max(0, firstByteMs), durationMs: (total / opts.rateHz) * 1000 };
}

/**
 * Greetings and fixed phrases, synthesized once and kept on disk keyed by (provider, voice, rate, text), so a
 * busy extension does not pay TTS for "Olá! Como posso ajudar?" on every call. Concurrent misses share one
 * synthesis. When a fallback provider did the synthesis (the secretary's own TTS was down), the file is kept
 * under the fallback's key, not the secretary's: once its own TTS is back, its voice is synthesized again
 * rather than the fallback's voice being played for good.
 */
export class PromptCache {
  readonly #dir: string;
  readonly #clock: Clock;
  readonly #inflight = new Map<string, Promise<string>>();

  constructor(dir: string, clock: Clock) {
    this.#dir = dir;
    this.#clock = clock;
  }

  #file(
    info: ProviderInfo,
    text: string,
    opts: { rateHz: number; voice?: string; language: string },
  ): string {
    const key = createHash('sha256')
      .update([info.vendor, info.model, opts.voice ?? '', opts.language, opts.rateHz, text].join('\u0000'))
      .digest('hex')
      .slice(0, 32);
    return path.join(this.#dir, `${key}.wav`);
  }

  async get(
    tts: TtsProvider,
    text: string,
    opts: { rateHz: number; voice?: string; language: string; signal: AbortSignal },
  ): Promise<string> {
    const file = this.#file(tts.info, text, opts);
    const pending = this.#inflight.get(file);
    if (pending) return pending;
    const work = (async () => {
      try {
        await access(file);
        return file;
      } catch {
        await mkdir(this.#dir, { recursive: true });
        const synthOpts = {
          file,
          rateHz: opts.rateHz,
          language: opts.language,
          signal: opts.signal,
          clock: this.#clock,
        };
        await synthesizeToFile(
          tts,
          text,
          opts.voice === undefined ? synthOpts : { ...synthOpts, voice: opts.voice },
        );
        const served = servedBy(tts);
        if (served === tts.info) return file;
        const theirs = this.#file(served, text, opts);
        await rename(file, theirs);
        return theirs;
      }
    })();
    this.#inflight.set(file, work);
    try {
      return await work;
    } finally {
      this.#inflight.delete(file);
    }
  }
}
