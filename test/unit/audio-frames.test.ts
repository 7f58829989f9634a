import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createFramer,
  createPcm16Decoder,
  frameBytes,
  frameSamples,
  pcm16FromBytes,
  pcm16ToBytes,
  splitFrames,
} from '../../src/audio/frames.js';

describe('frame sizes', () => {
  it('are 20 ms: 320 bytes at 8 kHz, 640 at 16 kHz', () => {
    expect(frameSamples(8000)).toBe(160);
    expect(frameBytes(8000)).toBe(320);
    expect(frameSamples(16000)).toBe(320);
    expect(frameBytes(16000)).toBe(640);
    expect(frameBytes(48000)).toBe(1920);
    expect(frameSamples(8000, 10)).toBe(80);
  });

  it('reject a frame that is not a whole number of samples', () => {
    expect(() => frameSamples(11025)).toThrow(/whole number/);
    expect(() => frameSamples(0)).toThrow(/whole number/);
  });
});

describe('pcm16 bytes', () => {
  it('round-trips samples as little-endian bytes', () => {
    const x = Int16Array.from([0, 1, -1, 32767, -32768, 258]);
    const b = pcm16ToBytes(x);
    expect(Array.from(b)).toEqual([0, 0, 1, 0, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x80, 2, 1]);
    const back = pcm16FromBytes(b);
    expect(Array.from(back.samples)).toEqual(Array.from(x));
    expect(back.carry).toBeUndefined();
  });

  it('reads from a buffer at an odd byte offset', () => {
    const backing = Buffer.from([9, 0x34, 0x12, 0xff, 0xff]);
    expect(Array.from(pcm16FromBytes(backing.subarray(1)).samples)).toEqual([0x1234, -1]);
  });

  it('carries an odd trailing byte into the next chunk', () => {
    const first = pcm16FromBytes(Uint8Array.from([0x01, 0x00, 0x34]));
    expect(Array.from(first.samples)).toEqual([1]);
    expect(first.carry).toBe(0x34);
    const second = pcm16FromBytes(Uint8Array.from([0x92, 0x05]), first.carry);
    expect(Array.from(second.samples)).toEqual([-0x6dcc]); // 0x9234 as int16
    expect(second.carry).toBe(0x05);
    const single = pcm16FromBytes(new Uint8Array(0), second.carry);
    expect(single.samples.length).toBe(0);
    expect(single.carry).toBe(0x05);
  });

  it('decodes a byte stream split anywhere exactly like the whole', () => {
    const x = Int16Array.from({ length: 500 }, (_, i) => (i * 7919) % 65536);
    const bytes = pcm16ToBytes(x);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: bytes.length }), { maxLength: 40 }), (cuts) => {
        const dec = createPcm16Decoder();
        const parts: number[] = [];
        let prev = 0;
        for (const c of [...cuts].sort((a, b) => a - b)) {
          parts.push(...dec.push(bytes.subarray(prev, c)));
          prev = c;
        }
        parts.push(...dec.push(bytes.subarray(prev)));
        expect(dec.flush()).toBe(0);
        expect(parts).toEqual(Array.from(x));
      }),
      { seed: 7, numRuns: 100 },
    );
  });

  it('reports a dangling byte at the end of the stream', () => {
    const dec = createPcm16Decoder();
    dec.push(Uint8Array.from([1, 2, 3]));
    expect(dec.flush()).toBe(1);
    expect(dec.flush()).toBe(0);
  });
});

describe('splitFrames and createFramer', () => {
  it('splits into whole 20 ms frames plus a remainder', () => {
    const x = Int16Array.from({ length: 400 }, (_, i) => i);
    const { frames, remainder } = splitFrames(x, 8000);
    expect(frames.map((f) => f.length)).toEqual([160, 160]);
    expect(frames[1]?.[0]).toBe(160);
    expect(Array.from(remainder)).toEqual(Array.from(x.subarray(320)));
  });

  it('re-chunks arbitrary pushes into exact frames, padding the last with silence', () => {
    const framer = createFramer(16000);
    const x = Int16Array.from({ length: 1000 }, (_, i) => i + 1);
    const frames = [
      ...framer.push(x.subarray(0, 7)),
      ...framer.push(x.subarray(7, 650)),
      ...framer.push(x.subarray(650)),
    ];
    expect(frames.map((f) => f.length)).toEqual([320, 320, 320]);
    expect(frames[2]?.[319]).toBe(960);
    const last = framer.flush();
    expect(last?.length).toBe(320);
    expect(last?.[39]).toBe(1000);
    expect(last?.[40]).toBe(0);
    expect(framer.flush()).toBeUndefined();
  });

  it('returns frames that later pushes do not overwrite', () => {
    const framer = createFramer(8000);
    const [a] = framer.push(new Int16Array(160).fill(1));
    framer.push(new Int16Array(160).fill(2));
    expect(a?.every((v) => v === 1)).toBe(true);
  });
});
