import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createResampler, resample } from '../../src/audio/resample.js';
import { parseWav } from '../../src/audio/wav.js';

function sine(hz: number, rateHz: number, seconds: number, amplitude = 10000): Int16Array {
  const n = Math.round(rateHz * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rateHz));
  return out;
}

/** RMS away from the edges, where the zero padding of the stream's ends makes a short fade. */
function rms(x: Int16Array, edge = 64): number {
  let s = 0;
  for (let i = edge; i < x.length - edge; i++) s += (x[i] ?? 0) ** 2;
  return Math.sqrt(s / (x.length - 2 * edge));
}

function zeroCrossings(x: Int16Array, edge = 64): number {
  let n = 0;
  for (let i = edge + 1; i < x.length - edge; i++) {
    if ((x[i - 1] ?? 0) < 0 !== (x[i] ?? 0) < 0) n++;
  }
  return n;
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function streamed(x: Int16Array, from: number, to: number, cuts: number[]): Int16Array {
  const r = createResampler(from, to);
  const parts: Int16Array[] = [];
  let prev = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    parts.push(r.push(x.subarray(prev, c)));
    prev = c;
  }
  parts.push(r.push(x.subarray(prev)), r.flush());
  return concat(parts);
}

const db = (ratio: number): number => 20 * Math.log10(ratio);

describe('resample', () => {
  it('keeps a 1 kHz tone at 24 kHz -> 8 kHz: same frequency, same amplitude', () => {
    const x = sine(1000, 24000, 1);
    const y = resample(x, 24000, 8000);
    expect(y.length).toBe(8000);
    // 1 kHz for 1 s: 2000 zero crossings; the trimmed edges remove 128 samples = 16 ms = 32 crossings
    expect(zeroCrossings(y)).toBeGreaterThanOrEqual(1966);
    expect(zeroCrossings(y)).toBeLessThanOrEqual(1970);
    expect(Math.abs(db(rms(y) / rms(x)))).toBeLessThan(0.2);
  });

  it('attenuates a 6 kHz tone at 24 kHz -> 8 kHz by at least 30 dB (no alias at 2 kHz)', () => {
    const x = sine(6000, 24000, 1);
    const y = resample(x, 24000, 8000);
    expect(db(rms(y) / rms(x))).toBeLessThan(-30);
  });

  it.each([
    [24000, 16000, 1000, 9000],
    [22050, 8000, 1000, 5000],
    [16000, 8000, 1000, 5000],
    [48000, 8000, 1000, 12000],
    [44100, 16000, 2000, 10000],
  ])('%i -> %i keeps %i Hz and rejects %i Hz', (from, to, pass, stop) => {
    const p = sine(pass, from, 0.5);
    expect(Math.abs(db(rms(resample(p, from, to)) / rms(p)))).toBeLessThan(0.2);
    const s = sine(stop, from, 0.5);
    expect(db(rms(resample(s, from, to)) / rms(s))).toBeLessThan(-40);
  });

  it('passes the telephone band (300-3400 Hz) within 1 dB at 24 kHz -> 8 kHz', () => {
    for (const hz of [300, 1000, 2000, 3000, 3400]) {
      const x = sine(hz, 24000, 0.5);
      expect(Math.abs(db(rms(resample(x, 24000, 8000)) / rms(x))), `${hz} Hz`).toBeLessThan(1);
    }
  });

  it('upsamples 8 kHz -> 16 kHz keeping the tone and adding no image above 4 kHz', () => {
    const x = sine(1000, 8000, 1);
    const y = resample(x, 8000, 16000);
    expect(y.length).toBe(16000);
    expect(Math.abs(db(rms(y) / rms(x)))).toBeLessThan(0.2);
    expect(zeroCrossings(y, 128)).toBeGreaterThanOrEqual(1966);
    expect(zeroCrossings(y, 128)).toBeLessThanOrEqual(1970);
    // The image of 1 kHz would be at 7 kHz: remove the tone (compare with an ideal 1 kHz at 16 kHz).
    const ideal = sine(1000, 16000, 1);
    const residual = Int16Array.from(y, (v, i) => v - (ideal[i] ?? 0));
    expect(db(rms(residual, 256) / rms(ideal))).toBeLessThan(-40);
  });

  it('returns ceil(n * to / from) samples and a copy when the rates are equal', () => {
    expect(resample(new Int16Array(4), 24000, 8000).length).toBe(2);
    expect(resample(new Int16Array(3), 24000, 8000).length).toBe(1);
    expect(resample(new Int16Array(441), 22050, 8000).length).toBe(160);
    expect(resample(new Int16Array(442), 22050, 8000).length).toBe(161);
    expect(resample(new Int16Array(0), 24000, 8000).length).toBe(0);
    const x = Int16Array.from([1, 2, 3]);
    const same = resample(x, 8000, 8000);
    expect(Array.from(same)).toEqual([1, 2, 3]);
    expect(same).not.toBe(x);
  });

  it('keeps a constant signal constant and never overflows on full-scale input', () => {
    const dc = new Int16Array(2400).fill(5000);
    const y = resample(dc, 24000, 8000);
    for (const v of y.subarray(40, y.length - 40)) expect(v).toBe(5000);
    const square = Int16Array.from({ length: 2400 }, (_, i) => (i % 12 < 6 ? 32767 : -32768));
    const z = resample(square, 24000, 8000);
    expect(Math.max(...z)).toBeLessThanOrEqual(32767);
    expect(Math.min(...z)).toBeGreaterThanOrEqual(-32768);
  });

  it('rejects invalid rates', () => {
    expect(() => resample(new Int16Array(1), 0, 8000)).toThrow(/fromHz/);
    expect(() => createResampler(8000, 7999.5)).toThrow(/toHz/);
  });

  it('resamples real speech to 8 kHz with its energy intact', () => {
    const speech16k = parseWav(
      readFileSync(new URL('../fixtures/audio/audio-speech-pt-16k-s16.wav', import.meta.url)),
    );
    const speech8k = parseWav(
      readFileSync(new URL('../fixtures/audio/audio-speech-pt-8k-s16.wav', import.meta.url)),
    );
    const y = resample(speech16k.samples, 16000, 8000);
    expect(Math.abs(y.length - speech8k.samples.length)).toBeLessThanOrEqual(1);
    // espeak-ng puts almost nothing above 3.7 kHz, so both paths keep the same energy
    expect(Math.abs(db(rms(y) / rms(speech8k.samples)))).toBeLessThan(0.5);
  });
});

describe('createResampler (streaming)', () => {
  const pairs: Array<[number, number]> = [
    [24000, 8000],
    [24000, 16000],
    [22050, 8000],
    [16000, 8000],
    [8000, 16000],
    [48000, 8000],
    [44100, 48000],
  ];

  it.each(pairs)('%i -> %i: chunked output equals the one-shot output', (from, to) => {
    const x = sine(440, from, 0.25);
    const whole = resample(x, from, to);
    const byOne = streamed(
      x,
      from,
      to,
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    expect(Array.from(byOne)).toEqual(Array.from(whole));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: x.length }), { maxLength: 30 }), (cuts) => {
        const y = streamed(x, from, to, cuts);
        expect(y.length).toBe(whole.length);
        for (let i = 0; i < y.length; i++) {
          if (Math.abs((y[i] ?? 0) - (whole[i] ?? 0)) > 1) return false;
        }
        return true;
      }),
      { seed: 42, numRuns: 40 },
    );
  });

  it('holds back only the filter look-ahead', () => {
    const r = createResampler(24000, 8000);
    const out = r.push(new Int16Array(2400));
    expect(out.length).toBeGreaterThan(780);
    expect(out.length + r.flush().length).toBe(800);
  });

  it('is reusable after flush', () => {
    const x = sine(1000, 24000, 0.1);
    const r = createResampler(24000, 8000);
    const first = concat([r.push(x), r.flush()]);
    const second = concat([r.push(x), r.flush()]);
    expect(Array.from(second)).toEqual(Array.from(first));
  });
});
