import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isAbort, ProviderError } from '../../src/core/errors.js';
import { createEspeakTts, ESPEAK_NOT_FOUND, type EspeakConfig } from '../../src/providers/local/espeak.js';
import type { PcmAudio, TtsProvider } from '../../src/providers/types.js';

const hasEspeak = spawnSync('espeak-ng', ['--version']).error === undefined;
if (!hasEspeak) console.warn('espeak-ng is not installed (apt-get install espeak-ng): its tests are skipped');

function tts(over: Partial<EspeakConfig> = {}): TtsProvider {
  return createEspeakTts({
    info: { vendor: 'espeak', kind: 'tts', model: 'espeak-ng' },
    language: 'pt-BR',
    command: 'espeak-ng',
    ...over,
  });
}

async function collect(chunks: AsyncIterable<PcmAudio>): Promise<{ audio: PcmAudio; count: number }> {
  const parts: Int16Array[] = [];
  let sampleRateHz = 0;
  for await (const c of chunks) {
    parts.push(c.samples);
    sampleRateHz = c.sampleRateHz;
  }
  const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    samples.set(p, at);
    at += p.length;
  }
  return { audio: { samples, sampleRateHz }, count: parts.length };
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / Math.max(1, samples.length));
}

/** Our children running `comm` (from /proc), so a test can watch one die. */
function childrenNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (m?.[1] === comm && Number(m[2]) === process.pid) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

const signal = (): AbortSignal => new AbortController().signal;
const SENTENCE = 'Bom dia! Nosso horário de atendimento é de segunda a sexta, das oito às dezoito horas.';

describe('espeak-ng TTS', () => {
  it.skipIf(!hasEspeak)(
    'speaks a pt-BR sentence as non-silent 22050 Hz PCM of plausible length',
    async () => {
      const { audio, count } = await collect(tts().synthesize(SENTENCE, { language: 'pt-BR' }, signal()));
      expect(audio.sampleRateHz).toBe(22_050);
      const seconds = audio.samples.length / audio.sampleRateHz;
      // About 15 words at espeak-ng's 175 words per minute, plus pauses.
      expect(seconds).toBeGreaterThan(3);
      expect(seconds).toBeLessThan(12);
      expect(rms(audio.samples)).toBeGreaterThan(500);
      expect(count).toBeGreaterThanOrEqual(1);
    },
  );

  it.skipIf(!hasEspeak)('speaks faster at a higher rate', async () => {
    const slow = await collect(tts({ rateWpm: 120 }).synthesize(SENTENCE, {}, signal()));
    const fast = await collect(tts({ rateWpm: 300 }).synthesize(SENTENCE, {}, signal()));
    expect(fast.audio.samples.length).toBeLessThan(slow.audio.samples.length * 0.7);
  });

  it.skipIf(!hasEspeak)(
    'speaks text that starts with a dash instead of reading it as an option',
    async () => {
      const { audio } = await collect(tts().synthesize('-v zz --help', {}, signal()));
      expect(audio.samples.length).toBeGreaterThan(22_050 / 2);
    },
  );

  it.skipIf(!hasEspeak)(
    "ignores another vendor's voice name, and rejects an unknown configured one",
    async () => {
      const { audio } = await collect(
        tts().synthesize('Olá', { voice: 'alloy', language: 'en-US' }, signal()),
      );
      expect(audio.samples.length).toBeGreaterThan(0);
      const err: unknown = await collect(
        tts({ voice: 'no-such-voice' }).synthesize('Olá', {}, signal()),
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProviderError);
      expect(err).toMatchObject({ retryable: false, message: "espeak-ng has no voice 'no-such-voice'" });
    },
  );

  it('yields nothing for empty text, without running anything', async () => {
    const { count } = await collect(tts({ command: 'no-such-espeak' }).synthesize('  \n ', {}, signal()));
    expect(count).toBe(0);
  });

  it('says how to install espeak-ng when it is missing', async () => {
    const err: unknown = await collect(
      tts({ command: 'no-such-espeak' }).synthesize('Olá', {}, signal()),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable: false, message: ESPEAK_NOT_FOUND });
  });

  it.skipIf(!hasEspeak)('kills espeak-ng on abort and reaps it', async () => {
    const ctl = new AbortController();
    const long = Array.from({ length: 40 }, () => SENTENCE).join(' ');
    const it = tts().synthesize(long, {}, ctl.signal)[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    const [pid] = childrenNamed('espeak-ng');
    expect(pid).toBeDefined();
    ctl.abort();
    let error: unknown;
    let afterAbort = 0;
    try {
      for (let r = await it.next(); !r.done; r = await it.next()) afterAbort += r.value.samples.length;
    } catch (err) {
      error = err;
    }
    expect(isAbort(error)).toBe(true);
    // At most what was already in the pipe: minutes of speech were left unsynthesised.
    expect(afterAbort / 22_050).toBeLessThan(10);
    // Reaped, not a zombie: the process is gone from /proc altogether.
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(childrenNamed('espeak-ng')).toEqual([]);
  });

  it.skipIf(!hasEspeak)('kills espeak-ng when the consumer stops early', async () => {
    const long = Array.from({ length: 40 }, () => SENTENCE).join(' ');
    for await (const _ of tts().synthesize(long, {}, signal())) break;
    expect(childrenNamed('espeak-ng')).toEqual([]);
  });
});
