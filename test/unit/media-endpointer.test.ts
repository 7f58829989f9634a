import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { createEndpointer, type EndpointEvent } from '../../src/media/endpointer.js';

const AUDIO = path.resolve(import.meta.dirname, '../fixtures/audio');
const load = (f: string): { samples: Int16Array; sampleRateHz: number } => {
  const w = parseWav(readFileSync(path.join(AUDIO, f)));
  return { samples: w.samples, sampleRateHz: w.sampleRateHz };
};
// fake-fs-sales-*.wav: 1,000 ms of silence, speech with pauses of up to 100 ms until 3,300 ms (the end of its
// 165th 20 ms frame), then 420 ms of silence. Same audio at 8 and 16 kHz.
const SPEECH_START_MS = 1000;
const SPEECH_END_MS = 3300;
const silence = (ms: number, rateHz: number): Int16Array => new Int16Array((rateHz * ms) / 1000);
const types = (evs: EndpointEvent[]): string[] => evs.map((e) => e.type);

/** Pushes `samples` in 20 ms frames, as a media backend would. */
function feed(ep: ReturnType<typeof createEndpointer>, samples: Int16Array, rateHz: number): EndpointEvent[] {
  const n = rateHz / 50;
  const out: EndpointEvent[] = [];
  for (let off = 0; off < samples.length; off += n) out.push(...ep.push(samples.subarray(off, off + n)));
  return out;
}

describe('endpointer on real speech', () => {
  for (const file of ['fake-fs-sales-8k.wav', 'fake-fs-sales-16k.wav']) {
    it(`${file}: one turn, ended endSilenceMs after the last voiced frame, pauses inside kept`, () => {
      const { samples, sampleRateHz } = load(file);
      const ep = createEndpointer({ sampleRateHz });
      const evs = [
        ...feed(ep, samples, sampleRateHz),
        ...feed(ep, silence(1000, sampleRateHz), sampleRateHz),
      ];
      expect(types(evs)).toEqual(['speech_start', 'barge_in', 'end_of_turn']);
      const [start, barge, end] = evs;
      expect(start).toEqual({ type: 'speech_start', atMs: SPEECH_START_MS });
      // Barge-in once 250 ms (13 frames) of it were voiced: the first 14 frames are all voiced.
      expect(barge).toMatchObject({ atMs: SPEECH_START_MS + 13 * 20, speechStartedAtMs: SPEECH_START_MS });
      if (end?.type !== 'end_of_turn') throw new Error('no end of turn');
      expect(end.speechEndedAtMs).toBe(SPEECH_END_MS);
      expect(end.atMs).toBe(SPEECH_END_MS + 600);
      expect(end.forced).toBe(false);
      expect(end.voicedMs).toBe(98 * 20);
      // 200 ms of pre-roll, then the utterance to its last voiced frame: exactly those samples of the file.
      const from = ((SPEECH_START_MS - 200) * sampleRateHz) / 1000;
      const to = (SPEECH_END_MS * sampleRateHz) / 1000;
      expect(end.samples).toEqual(samples.subarray(from, to));
    });
  }

  it('a shorter trailing silence ends the turn sooner; the in-speech pauses still do not split it', () => {
    const { samples, sampleRateHz } = load('fake-fs-sales-8k.wav');
    const ep = createEndpointer({ sampleRateHz, endSilenceMs: 300 });
    const evs = [...feed(ep, samples, sampleRateHz), ...feed(ep, silence(500, sampleRateHz), sampleRateHz)];
    const ends = evs.filter((e) => e.type === 'end_of_turn');
    expect(ends).toHaveLength(1);
    expect(ends[0]).toMatchObject({ speechEndedAtMs: SPEECH_END_MS, atMs: SPEECH_END_MS + 300 });
  });

  it('two utterances separated by a second of silence are two turns; times keep counting', () => {
    const { samples, sampleRateHz } = load('fake-fs-sales-8k.wav');
    const ep = createEndpointer({ sampleRateHz });
    const evs = [
      ...feed(ep, samples, sampleRateHz),
      ...feed(ep, silence(1000, sampleRateHz), sampleRateHz),
      ...feed(ep, samples, sampleRateHz),
      ...feed(ep, silence(1000, sampleRateHz), sampleRateHz),
    ];
    const ends = evs.flatMap((e) => (e.type === 'end_of_turn' ? [e.speechEndedAtMs] : []));
    const fileMs = (samples.length * 1000) / sampleRateHz;
    expect(ends).toEqual([SPEECH_END_MS, Math.round((fileMs + 1000) / 20) * 20 + SPEECH_END_MS]);
    expect(ep.inSpeech).toBe(false);
  });

  it('line noise (the recorded noise floor) and silence produce nothing', () => {
    const { samples, sampleRateHz } = load('audio-noise-floor-8k.wav');
    const ep = createEndpointer({ sampleRateHz });
    expect(feed(ep, samples, sampleRateHz)).toEqual([]);
    expect(feed(ep, silence(2000, sampleRateHz), sampleRateHz)).toEqual([]);
    expect(ep.elapsedMs).toBe(3000);
  });
});

describe('short sounds and limits', () => {
  const rate = 8000;
  const tone = (ms: number, amp = 3000): Int16Array => {
    const s = new Int16Array((rate * ms) / 1000);
    for (let i = 0; i < s.length; i++) s[i] = Math.round(amp * Math.sin((2 * Math.PI * 440 * i) / rate));
    return s;
  };

  it('a 40 ms click never starts speech; a 160 ms cough starts it but is noise, and never barges in', () => {
    const ep = createEndpointer({ sampleRateHz: rate });
    const click = [...feed(ep, tone(40), rate), ...feed(ep, silence(800, rate), rate)];
    expect(click).toEqual([{ type: 'noise', atMs: 40 + 600, voicedMs: 40 }]);
    const cough = [...feed(ep, tone(160), rate), ...feed(ep, silence(800, rate), rate)];
    expect(types(cough)).toEqual(['speech_start', 'noise']);
    expect(cough[1]).toMatchObject({ voicedMs: 160 });
  });

  it('speech longer than maxUtteranceMs is cut there, forced, and the buffer never holds more', () => {
    const ep = createEndpointer({ sampleRateHz: rate, maxUtteranceMs: 2000, preRollMs: 0 });
    const evs = feed(ep, tone(5000), rate);
    const ends = evs.filter((e) => e.type === 'end_of_turn');
    expect(ends.map((e) => [e.startedAtMs, e.speechEndedAtMs, e.forced, e.samples.length])).toEqual([
      [0, 2000, true, 16000],
      [2000, 4000, true, 16000],
    ]);
    expect(ep.inSpeech).toBe(true);
  });

  it('reset() forgets the utterance in progress', () => {
    const ep = createEndpointer({ sampleRateHz: rate });
    expect(types(feed(ep, tone(300), rate))).toEqual(['speech_start', 'barge_in']);
    ep.reset();
    expect(ep.inSpeech).toBe(false);
    expect(feed(ep, silence(1000, rate), rate)).toEqual([]);
  });

  it('frames split across pushes give the same events as whole frames', () => {
    const { samples, sampleRateHz } = load('fake-fs-sales-8k.wav');
    const whole = createEndpointer({ sampleRateHz });
    const odd = createEndpointer({ sampleRateHz });
    const all = new Int16Array(samples.length + 8000);
    all.set(samples);
    const a = feed(whole, all, sampleRateHz);
    const b: EndpointEvent[] = [];
    for (let off = 0; off < all.length; off += 77) b.push(...odd.push(all.subarray(off, off + 77)));
    expect(b).toEqual(a);
  });

  it('refuses a rate that is not a whole number of samples per 20 ms, and negative times', () => {
    expect(() => createEndpointer({ sampleRateHz: 11025 })).toThrow(/whole number/);
    expect(() => createEndpointer({ sampleRateHz: 8000, endSilenceMs: -1 })).toThrow(/endSilenceMs/);
  });
});
