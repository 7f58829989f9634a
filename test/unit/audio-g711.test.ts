import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  alawDecode,
  alawEncode,
  alawToLinear,
  linearToAlaw,
  linearToMulaw,
  mulawDecode,
  mulawEncode,
  mulawToLinear,
} from '../../src/audio/g711.js';
import { parseWav } from '../../src/audio/wav.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/audio/${name}`, import.meta.url));

function allInt16(): Int16Array {
  const a = new Int16Array(65536);
  for (let i = 0; i < 65536; i++) a[i] = i - 32768;
  return a;
}

function snrDb(ref: Int16Array, got: Int16Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] ?? 0;
    signal += r * r;
    noise += (r - (got[i] ?? 0)) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

describe('G.711 mu-law', () => {
  it('matches known table values', () => {
    expect(linearToMulaw(0)).toBe(0xff);
    expect(linearToMulaw(-1)).toBe(0x7f); // one's complement: -1 is "negative zero"
    expect(linearToMulaw(32767)).toBe(0x80);
    expect(linearToMulaw(-32768)).toBe(0x00);
    expect(mulawToLinear(0xff)).toBe(0);
    expect(mulawToLinear(0x7f)).toBe(0);
    expect(mulawToLinear(0x80)).toBe(32124);
    expect(mulawToLinear(0x00)).toBe(-32124);
    expect(mulawToLinear(0xfe)).toBe(8);
    expect(mulawToLinear(0x7e)).toBe(-8);
    expect(mulawToLinear(0xef)).toBe(132); // first step of segment 1
  });

  it('decodes every code to a value that encodes back to an equivalent code', () => {
    for (let code = 0; code < 256; code++) {
      const v = mulawToLinear(code);
      expect(mulawToLinear(linearToMulaw(v))).toBe(v);
    }
  });

  it('keeps every 16-bit sample within half a quantization step (plus clipping above 32124)', () => {
    const all = allInt16();
    const back = mulawDecode(mulawEncode(all));
    const bad: number[] = [];
    for (let i = 0; i < all.length; i++) {
      const x = all[i] ?? 0;
      const err = Math.abs((back[i] ?? 0) - x);
      const bound = Math.abs(x) > 32124 ? Math.abs(x) - 32124 + 512 : Math.max(8, Math.abs(x) / 16);
      if (err > bound) bad.push(x);
    }
    expect(bad).toEqual([]);
  });

  it('is monotonic', () => {
    const all = allInt16();
    const back = mulawDecode(mulawEncode(all));
    let drops = 0;
    for (let i = 1; i < back.length; i++) if ((back[i] ?? 0) < (back[i - 1] ?? 0)) drops++;
    expect(drops).toBe(0);
  });
});

describe('G.711 A-law', () => {
  it('matches known table values', () => {
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(-1)).toBe(0x55);
    expect(linearToAlaw(-17)).toBe(0x54);
    expect(linearToAlaw(32767)).toBe(0xaa);
    expect(linearToAlaw(-32768)).toBe(0x2a);
    expect(alawToLinear(0xd5)).toBe(8);
    expect(alawToLinear(0x55)).toBe(-8);
    expect(alawToLinear(0xaa)).toBe(32256);
    expect(alawToLinear(0x2a)).toBe(-32256);
  });

  it('decodes every code to a value that encodes back to the same code', () => {
    for (let code = 0; code < 256; code++) {
      expect(linearToAlaw(alawToLinear(code))).toBe(code);
    }
  });

  it('keeps every 16-bit sample within half a quantization step (plus clipping above 32256)', () => {
    const all = allInt16();
    const back = alawDecode(alawEncode(all));
    const bad: number[] = [];
    for (let i = 0; i < all.length; i++) {
      const x = all[i] ?? 0;
      const err = Math.abs((back[i] ?? 0) - x);
      const bound = Math.abs(x) > 32256 ? Math.abs(x) - 32256 + 512 : Math.max(16, Math.abs(x) / 16);
      if (err > bound) bad.push(x);
    }
    expect(bad).toEqual([]);
  });
});

describe('G.711 on real audio', () => {
  const ref = parseWav(fixture('audio-speech-pt-8k-s16.wav')).samples;

  it('round-trips speech with telephone quality (SNR > 30 dB)', () => {
    expect(snrDb(ref, mulawDecode(mulawEncode(ref)))).toBeGreaterThan(30);
    expect(snrDb(ref, alawDecode(alawEncode(ref)))).toBeGreaterThan(30);
  });

  it('decodes sox-encoded files and agrees with sox to within one code step', () => {
    for (const law of ['mulaw', 'alaw'] as const) {
      const raw = fixture(`audio-speech-pt-8k-${law}.wav`);
      const parsed = parseWav(raw);
      expect(parsed.format).toBe(law);
      expect(snrDb(ref, parsed.samples)).toBeGreaterThan(30);
      // sox rounds to 14/13 bits before encoding, the ITU reference truncates: neighbours at most.
      const ours = law === 'mulaw' ? mulawDecode(mulawEncode(ref)) : alawDecode(alawEncode(ref));
      let far = 0;
      for (let i = 0; i < ref.length; i++) {
        const step = Math.max(16, Math.abs(ref[i] ?? 0) / 8);
        if (Math.abs((ours[i] ?? 0) - (parsed.samples[i] ?? 0)) > step) far++;
      }
      expect(far).toBe(0);
    }
  });

  it('encodes to one byte per sample and decodes from any Uint8Array', () => {
    const bytes = mulawEncode(Int16Array.from([0, 1000, -1000]));
    expect(bytes).toBeInstanceOf(Buffer);
    expect(bytes.length).toBe(3);
    expect(Array.from(mulawDecode(new Uint8Array(bytes)))).toEqual(Array.from(mulawDecode(bytes)));
  });
});
