import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { PromptCache } from '../../src/conversation/speech.js';
import { systemClock } from '../../src/core/clock.js';
import { createOpenAiTts } from '../../src/providers/tts/openai.js';
import { withFallback } from '../../src/providers/wrap/fallback.js';
import { serverError, startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';

let a: FakeOpenAi;
let b: FakeOpenAi;
let dir: string;
beforeEach(async () => {
  [a, b] = await Promise.all([
    startFakeOpenAi({ apiKey: FAKE_API_KEY }),
    startFakeOpenAi({ apiKey: FAKE_API_KEY }),
  ]);
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-prompts-'));
});
afterEach(async () => {
  await Promise.all([a.close(), b.close()]);
  await rm(dir, { recursive: true, force: true });
});

const OPTS = { rateHz: 8000, language: 'pt-BR', signal: new AbortController().signal };
const speeches = (f: FakeOpenAi) => f.requests.filter((r) => r.route === 'speech').length;

/** The secretary's TTS (on a) with a fallback (on b, another model): a chain as the registry builds per call. */
function chain() {
  return withFallback([
    createOpenAiTts(fakeConfig(a.baseUrl, 'tts')),
    createOpenAiTts(fakeConfig(b.baseUrl, 'tts', { config: { model: 'tts-1-hd' } })),
  ]);
}

describe('PromptCache', () => {
  it('synthesizes a phrase once, then serves the file from disk', async () => {
    const cache = new PromptCache(dir, systemClock);
    const first = await cache.get(chain(), 'Olá! Como posso ajudar?', OPTS);
    const again = await cache.get(chain(), 'Olá! Como posso ajudar?', OPTS);
    expect(again).toBe(first);
    expect(speeches(a)).toBe(1);
    expect(parseWav(await readFile(first)).sampleRateHz).toBe(8000);
  });

  it('shares one synthesis between concurrent misses', async () => {
    const cache = new PromptCache(dir, systemClock);
    const [x, y] = await Promise.all([
      cache.get(chain(), 'Um momento, por favor.', OPTS),
      cache.get(chain(), 'Um momento, por favor.', OPTS),
    ]);
    expect(x).toBe(y);
    expect(speeches(a)).toBe(1);
  });

  it("keeps a fallback's synthesis under the fallback's key: the secretary's own voice returns with its TTS", async () => {
    const cache = new PromptCache(dir, systemClock);
    a.script('speech', serverError(500));
    const degraded = await cache.get(chain(), 'Olá! Como posso ajudar?', OPTS);
    expect(speeches(b)).toBe(1);
    await access(degraded);
    // a is back: the phrase is synthesized again by a, not the fallback's file played for good.
    const healthy = await cache.get(chain(), 'Olá! Como posso ajudar?', OPTS);
    expect(healthy).not.toBe(degraded);
    expect(speeches(a)).toBe(2); // the 500, then this one
    expect(speeches(b)).toBe(1);
    expect((await readdir(dir)).filter((f) => f.endsWith('.wav')).sort()).toEqual(
      [path.basename(degraded), path.basename(healthy)].sort(),
    );
  });
});
