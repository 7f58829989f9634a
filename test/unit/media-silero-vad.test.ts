import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { InvalidInputError } from '../../src/core/errors.js';
import { createEndpointer, type EndpointEvent } from '../../src/media/endpointer.js';
import { loadSileroModel, type SileroModel, type SileroVad } from '../../src/media/silero-vad.js';

const AUDIO = path.resolve(import.meta.dirname, '../fixtures/audio');
// fake-fs-sales-*.wav (espeak-ng, en-us): 1,000 ms of digital silence, then speech whose energy runs from
// 1,000 to 3,300 ms, then 420 ms of silence.
const SPEECH_START_MS = 1000;
const SPEECH_END_MS = 3300;

/** Seeded white noise at `dbfs` dBFS RMS (Gaussian, so RMS = sigma): a telephone line's hiss. */
function lineNoise(samples: number, dbfs: number, seed: number): Int16Array {
  let a = seed >>> 0;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const sigma = 32768 * 10 ** (dbfs / 20);
  return Int16Array.from({ length: samples }, () => {
    const g = Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand());
    return Math.round(g * sigma);
  });
}

/** Frame by frame as live audio arrives: each frame's windows are scored before the next frame comes. */
async function decide(vad: SileroVad, samples: Int16Array, rateHz: number): Promise<boolean[]> {
  const n = rateHz / 50;
  const out: boolean[] = [];
  for (let off = 0; off + n <= samples.length; off += n) {
    out.push(vad.classify(samples.slice(off, off + n)));
    await vad.settled();
  }
  return out;
}

const models = new Map<number, SileroModel>();
beforeAll(async () => {
  for (const rate of [8000, 16000] as const) models.set(rate, await loadSileroModel({ sampleRateHz: rate }));
});
afterAll(async () => {
  for (const m of models.values()) await m.close();
});

describe('Silero VAD frame classifier on real speech', () => {
  for (const rate of [8000, 16000] as const) {
    const file = `fake-fs-sales-${rate / 1000}k.wav`;
    const clip = parseWav(readFileSync(path.join(AUDIO, file))).samples;

    it(`${file}: speech frames voiced, the leading silence and -40 dBFS line noise not`, async () => {
      const model = models.get(rate)!;
      const vad = model.createVad();
      const noise = lineNoise(rate * 3, -40, 7);
      const voiced = await decide(vad, Int16Array.from([...clip, ...noise]), rate);
      const at = (ms: number): number => ms / 20;
      expect(voiced.slice(0, at(SPEECH_START_MS)).some(Boolean)).toBe(false);
      const speech = voiced.slice(at(SPEECH_START_MS), at(SPEECH_END_MS));
      expect(speech.filter(Boolean).length / speech.length).toBeGreaterThan(0.8);
      // The noise starts 420 ms after the speech (Silero's hangover has let go by then): 3 s, minus the frame
      // it shares with the clip's tail.
      const noisePart = voiced.slice(Math.ceil(clip.length / (rate / 50)));
      expect(noisePart.length).toBe(149);
      expect(noisePart.some(Boolean)).toBe(false);
      expect(vad.dropped).toBe(0);
    });

    it(`${file}: through the endpointer, one turn ending within 200 ms of the speech's end`, async () => {
      const vad = models.get(rate)!.createVad();
      const ep = createEndpointer({ sampleRateHz: rate, classify: vad.classify });
      const audio = Int16Array.from([...clip, ...lineNoise(rate * 2, -40, 8)]);
      const n = rate / 50;
      const evs: EndpointEvent[] = [];
      for (let off = 0; off + n <= audio.length; off += n) {
        evs.push(...ep.push(audio.subarray(off, off + n)));
        await vad.settled();
      }
      expect(evs.map((e) => e.type)).toEqual(['speech_start', 'barge_in', 'end_of_turn']);
      const end = evs[2];
      if (end?.type !== 'end_of_turn') throw new Error('no end_of_turn');
      expect(end.speechEndedAtMs).toBeGreaterThanOrEqual(SPEECH_END_MS - 100);
      expect(end.speechEndedAtMs).toBeLessThanOrEqual(SPEECH_END_MS + 200);
      expect(evs[0]).toMatchObject({ type: 'speech_start' });
      const start = evs[0]?.type === 'speech_start' ? evs[0].atMs : NaN;
      expect(Math.abs(start - SPEECH_START_MS)).toBeLessThanOrEqual(100);
    });
  }

  it('two calls on one model keep their own state; reset forgets the stream', async () => {
    const model = models.get(8000)!;
    const clip = parseWav(readFileSync(path.join(AUDIO, 'fake-fs-sales-8k.wav'))).samples;
    const a = model.createVad();
    const b = model.createVad();
    // a hears speech while b hears silence, frame for frame on the same session.
    const speech = clip.slice(8000 * 1.5, 8000 * 2.5);
    const silence = new Int16Array(speech.length);
    const ra: boolean[] = [];
    const rb: boolean[] = [];
    for (let off = 0; off + 160 <= speech.length; off += 160) {
      ra.push(a.classify(speech.slice(off, off + 160)));
      rb.push(b.classify(silence.slice(off, off + 160)));
      await Promise.all([a.settled(), b.settled()]);
    }
    expect(ra.some(Boolean)).toBe(true);
    expect(rb.some(Boolean)).toBe(false);
    expect(a.probability).toBeGreaterThan(0.5);
    a.reset();
    expect(a.probability).toBe(0);
    expect(a.classify(new Int16Array(160))).toBe(false);
  });

  it('rejects a frame that is not 20 ms, and a rate Silero does not take', async () => {
    const vad = models.get(16000)!.createVad();
    expect(() => vad.classify(new Int16Array(160))).toThrow(InvalidInputError);
    await expect(loadSileroModel({ sampleRateHz: 48000 as 16000 })).rejects.toThrow(InvalidInputError);
  });
});
