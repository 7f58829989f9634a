import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createEnergyVad,
  frameEnergy,
  hasSpeech,
  scaledSilenceThreshold,
  voicedMs,
  type VadEvent,
} from '../../src/audio/energy.js';
import { resample } from '../../src/audio/resample.js';
import { parseWav } from '../../src/audio/wav.js';

const load = (name: string): Int16Array =>
  parseWav(readFileSync(new URL(`../fixtures/audio/${name}`, import.meta.url))).samples;

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** A 200 Hz square-ish tone: every 20 ms frame has mean |x| == amplitude. */
const tone = (ms: number, amplitude: number, rateHz = 8000): Int16Array =>
  Int16Array.from({ length: (rateHz * ms) / 1000 }, (_, i) =>
    Math.floor(i / (rateHz / 400)) % 2 ? -amplitude : amplitude,
  );
const silence = (ms: number, rateHz = 8000): Int16Array => new Int16Array((rateHz * ms) / 1000);

describe('frameEnergy', () => {
  it('is the mean absolute amplitude of the range', () => {
    const x = Int16Array.from([100, -300, 0, 200, -32768]);
    expect(frameEnergy(x)).toBeCloseTo((100 + 300 + 0 + 200 + 32768) / 5, 9);
    expect(frameEnergy(x, 1, 2)).toBe(150);
    expect(frameEnergy(x, 4, 10)).toBe(32768); // clipped to the array
    expect(frameEnergy(x, 5)).toBe(0);
    expect(frameEnergy(new Int16Array(0))).toBe(0);
  });
});

describe('scaledSilenceThreshold', () => {
  it('follows FreeSWITCH: the score is multiplied by floor(rate / 8000)', () => {
    expect(scaledSilenceThreshold(200, 8000)).toBe(200);
    expect(scaledSilenceThreshold(200, 16000)).toBe(400);
    expect(scaledSilenceThreshold(200, 48000)).toBe(1200);
    expect(scaledSilenceThreshold(200, 22050)).toBe(400);
    expect(scaledSilenceThreshold(200, 11025)).toBe(200);
    expect(scaledSilenceThreshold(200, 4000)).toBe(200);
  });
});

describe('hasSpeech', () => {
  const speech8k = load('audio-speech-pt-8k-s16.wav');
  const speech16k = load('audio-speech-pt-16k-s16.wav');
  const noise = load('audio-noise-floor-8k.wav');

  it('finds speech in a real recording at 8 and 16 kHz, with the same voiced time', () => {
    expect(hasSpeech(speech8k, 8000)).toBe(true);
    expect(hasSpeech(speech16k, 16000)).toBe(true);
    expect(Math.abs(voicedMs(speech8k, 8000) - voicedMs(speech16k, 16000))).toBeLessThanOrEqual(60);
    expect(voicedMs(speech8k, 8000)).toBeGreaterThan(1000);
  });

  it('calls line noise and digital silence "no speech"', () => {
    expect(frameEnergy(noise)).toBeGreaterThan(5);
    expect(hasSpeech(noise, 8000)).toBe(false);
    expect(hasSpeech(silence(3000), 8000)).toBe(false);
    expect(hasSpeech(new Int16Array(0), 8000)).toBe(false);
  });

  it('ignores a click shorter than minSpeechMs, even a loud one', () => {
    expect(hasSpeech(concat(silence(500), tone(60, 20000), silence(500)), 8000)).toBe(false);
    expect(hasSpeech(concat(silence(500), tone(200, 1000), silence(500)), 8000)).toBe(true);
  });

  it('compares the mean absolute amplitude with the threshold, at any rate', () => {
    for (const rate of [8000, 16000, 48000]) {
      expect(hasSpeech(tone(400, 199, rate), rate)).toBe(false);
      expect(hasSpeech(tone(400, 200, rate), rate)).toBe(true);
      expect(hasSpeech(tone(400, 150, rate), rate, { threshold: 100 })).toBe(true);
      expect(hasSpeech(tone(400, 500, rate), rate, { minSpeechMs: 500 })).toBe(false);
    }
  });

  it('keeps working after resampling the TTS-rate speech down to the call rate', () => {
    expect(hasSpeech(resample(speech16k, 16000, 8000), 8000)).toBe(true);
  });
});

describe('createEnergyVad', () => {
  it('reports speech start and end with hangover, in any chunking', () => {
    const audio = concat(silence(300), tone(500, 2000), silence(200), tone(300, 2000), silence(1000));
    const run = (chunk: number): VadEvent[] => {
      const vad = createEnergyVad({ sampleRateHz: 8000, startMs: 100, endMs: 400 });
      const events: VadEvent[] = [];
      for (let off = 0; off < audio.length; off += chunk)
        events.push(...vad.push(audio.subarray(off, off + chunk)));
      expect(vad.speaking).toBe(false);
      return events;
    };
    const expected: VadEvent[] = [
      { type: 'speech-start', atMs: 300 },
      { type: 'speech-end', atMs: 1300, speechMs: 1000 }, // the 200 ms pause is shorter than endMs
    ];
    expect(run(160)).toEqual(expected);
    expect(run(37)).toEqual(expected);
    expect(run(audio.length)).toEqual(expected);
  });

  it('ignores bursts shorter than startMs and resets', () => {
    const vad = createEnergyVad({ sampleRateHz: 16000 });
    expect(vad.push(concat(silence(200, 16000), tone(60, 5000, 16000), silence(200, 16000)))).toEqual([]);
    expect(vad.push(tone(200, 5000, 16000))).toEqual([{ type: 'speech-start', atMs: 460 }]);
    expect(vad.speaking).toBe(true);
    vad.reset();
    expect(vad.speaking).toBe(false);
    expect(vad.push(tone(100, 5000, 16000))).toEqual([{ type: 'speech-start', atMs: 0 }]);
  });
});
