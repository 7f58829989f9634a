import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { isAbort, ProviderError } from '../../src/core/errors.js';
import { createEspeakTts } from '../../src/providers/local/espeak.js';
import {
  createPocketsphinxStt,
  parseOutput,
  POCKETSPHINX_NOT_FOUND,
  type PocketsphinxConfig,
} from '../../src/providers/local/pocketsphinx.js';
import type { PcmAudio, SttProvider } from '../../src/providers/types.js';

const installed = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const hasEspeak = installed('espeak-ng');
const hasSphinx = installed('pocketsphinx_continuous') || installed('pocketsphinx');
if (!hasEspeak || !hasSphinx) {
  console.warn(
    'pocketsphinx transcription tests skipped: needs espeak-ng and pocketsphinx ' +
      '(apt-get install espeak-ng pocketsphinx pocketsphinx-en-us)',
  );
}

function stt(over: Partial<PocketsphinxConfig> = {}): SttProvider {
  return createPocketsphinxStt({
    info: { vendor: 'pocketsphinx', kind: 'stt', model: 'en-us' },
    language: 'en-US',
    ...over,
  });
}

const signal = (): AbortSignal => new AbortController().signal;

/**
 * English speech from espeak-ng with half a second of silence around it. The voice and rate are the ones
 * PocketSphinx's stock model gets right on "hello world" (espeak-ng's default voice comes out as "oh wow").
 */
async function speak(text: string): Promise<PcmAudio> {
  const tts = createEspeakTts({
    info: { vendor: 'espeak', kind: 'tts', model: 'espeak-ng' },
    language: 'en-US',
    voice: 'en-us+m1',
    rateWpm: 140,
    command: 'espeak-ng',
  });
  const parts: Int16Array[] = [];
  let rate = 22_050;
  for await (const c of tts.synthesize(text, {}, signal())) {
    parts.push(c.samples);
    rate = c.sampleRateHz;
  }
  const pad = rate / 2;
  const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 2 * pad));
  let at = pad;
  for (const p of parts) {
    samples.set(p, at);
    at += p.length;
  }
  return { samples, sampleRateHz: rate };
}

/** Our children whose command name starts with `prefix` (from /proc; names are cut to 15 characters). */
function childrenNamed(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const m = /^\d+ \((.*)\) \S (\d+)/.exec(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (m?.[1]?.startsWith(prefix) && Number(m[2]) === process.pid) pids.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}

const sphinxDirs = (): string[] => readdirSync(tmpdir()).filter((d) => d.startsWith('voice-ai-sphinx-'));

describe('pocketsphinx STT', () => {
  it.skipIf(!hasEspeak || !hasSphinx)('transcribes English speech synthesised by espeak-ng', async () => {
    const audio = await speak('hello world');
    const result = await stt().transcribe(audio, { language: 'en-US' }, signal());
    const words = result.text.toLowerCase().split(/\s+/);
    expect(
      words.some((w) => w === 'hello' || w === 'world'),
      `heard "${result.text}"`,
    ).toBe(true);
    expect(result.durationMs).toBeGreaterThan(1000);
    expect(result.language).toBe('en-US');
  });

  it.skipIf(!hasEspeak || !hasSphinx)(
    'kills the recogniser on abort and removes its temporary file',
    async () => {
      const before = sphinxDirs();
      const audio = await speak('hello world. '.repeat(30));
      const ctl = new AbortController();
      const pending = stt()
        .transcribe(audio, {}, ctl.signal)
        .catch((e: unknown) => e);
      // The recogniser takes seconds over this much audio; wait (bounded) until it is running, then abort.
      let pid: number | undefined;
      for (let i = 0; i < 500 && pid === undefined; i++) {
        [pid] = childrenNamed('pocketsphinx');
        if (pid === undefined) await new Promise((r) => setTimeout(r, 10));
      }
      expect(pid).toBeDefined();
      ctl.abort();
      const err = await pending;
      expect(isAbort(err)).toBe(true);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(sphinxDirs()).toEqual(before);
    },
  );

  it('returns an empty transcript for empty audio without running anything', async () => {
    const result = await stt({ command: 'no-such-pocketsphinx' }).transcribe(
      { samples: new Int16Array(0), sampleRateHz: 8000 },
      {},
      signal(),
    );
    expect(result).toEqual({ text: '', durationMs: 0 });
  });

  it('refuses a language the model does not know, so a fallback can take the turn', async () => {
    const err: unknown = await stt()
      .transcribe({ samples: new Int16Array(800), sampleRateHz: 8000 }, { language: 'pt-BR' }, signal())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({
      retryable: false,
      message: 'pocketsphinx model recognises en-US, not pt-BR',
    });
  });

  it('says how to install pocketsphinx when it is missing', async () => {
    const err: unknown = await stt({ command: 'no-such-pocketsphinx' })
      .transcribe({ samples: new Int16Array(800), sampleRateHz: 8000 }, {}, signal())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable: false, message: POCKETSPHINX_NOT_FOUND });
  });

  it('reads both output formats: plain lines (0.8+5prealpha) and JSON lines (5.x)', () => {
    expect(parseOutput('hello world\n\ngood morning\n')).toBe('hello world good morning');
    expect(parseOutput('{"b":0.0,"d":1.2,"p":1.0,"t":"hello world","w":[]}\n{"t":""}\n')).toBe('hello world');
  });
});
