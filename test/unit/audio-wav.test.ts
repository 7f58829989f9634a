import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AudioFormatError } from '../../src/core/errors.js';
import { encodeWav, parseWav } from '../../src/audio/wav.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/audio/${name}`, import.meta.url));

/** A RIFF/WAVE file from raw chunks; `pad` false leaves odd chunks unpadded like some writers do. */
function riff(chunks: Array<[string, Buffer, number?]>, pad = true): Buffer {
  const parts: Buffer[] = [];
  for (const [id, body, sizeOverride] of chunks) {
    const h = Buffer.alloc(8);
    h.write(id, 0, 'latin1');
    h.writeUInt32LE(sizeOverride ?? body.length, 4);
    parts.push(h, body);
    if (pad && body.length % 2 === 1) parts.push(Buffer.alloc(1));
  }
  const payload = Buffer.concat(parts);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(4 + payload.length, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, payload]);
}

function fmt(tag: number, channels: number, rate: number, bits: number, blockAlign?: number): Buffer {
  const b = Buffer.alloc(16);
  const align = blockAlign ?? channels * Math.ceil(bits / 8);
  b.writeUInt16LE(tag, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE(rate * align, 8);
  b.writeUInt16LE(align, 12);
  b.writeUInt16LE(bits, 14);
  return b;
}

function fmtExtensible(subTag: number, channels: number, rate: number, bits: number): Buffer {
  const b = Buffer.alloc(40);
  fmt(0xfffe, channels, rate, bits).copy(b);
  b.writeUInt16LE(22, 16); // cbSize
  b.writeUInt16LE(bits, 18); // valid bits
  b.writeUInt32LE(channels === 1 ? 4 : 3, 20); // channel mask
  b.writeUInt16LE(subTag, 24); // GUID xxxx0000-0000-0010-8000-00aa00389b71
  Buffer.from('000000001000800000aa00389b71', 'hex').copy(b, 26);
  return b;
}

function s16(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 2);
  values.forEach((v, i) => b.writeInt16LE(v, i * 2));
  return b;
}

const ramp = Array.from({ length: 100 }, (_, i) => (i - 50) * 600);

describe('encodeWav', () => {
  it('writes the canonical 44-byte 16-bit mono header', () => {
    const wav = encodeWav(Int16Array.from([1, -2, 32767, -32768]), 8000);
    expect(wav.length).toBe(44 + 8);
    expect(wav.toString('latin1', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(36 + 8);
    expect(wav.toString('latin1', 8, 16)).toBe('WAVEfmt ');
    expect(wav.readUInt32LE(16)).toBe(16);
    expect(wav.readUInt16LE(20)).toBe(1);
    expect(wav.readUInt16LE(22)).toBe(1);
    expect(wav.readUInt32LE(24)).toBe(8000);
    expect(wav.readUInt32LE(28)).toBe(16000);
    expect(wav.readUInt16LE(32)).toBe(2);
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.toString('latin1', 36, 40)).toBe('data');
    expect(wav.readUInt32LE(40)).toBe(8);
    expect(wav.readInt16LE(48)).toBe(32767);
  });

  it('round-trips through parseWav exactly', () => {
    const samples = Int16Array.from(ramp);
    for (const rate of [8000, 16000, 24000, 48000]) {
      const parsed = parseWav(encodeWav(samples, rate));
      expect(parsed).toMatchObject({ sampleRateHz: rate, channels: 1, bitsPerSample: 16, format: 'pcm' });
      expect(parsed.truncated).toBe(false);
      expect(Array.from(parsed.samples)).toEqual(ramp);
      expect(parsed.durationMs).toBeCloseTo((100 * 1000) / rate, 9);
    }
  });

  it('encodes an empty buffer and a view at an odd offset', () => {
    expect(parseWav(encodeWav(new Int16Array(0), 8000)).samples.length).toBe(0);
    const backing = new Int16Array([9, 1, 2, 3]);
    expect(Array.from(parseWav(encodeWav(backing.subarray(1), 8000)).samples)).toEqual([1, 2, 3]);
  });

  it('writes parts back to back, byte for byte the same file as their concatenation', () => {
    const backing = Int16Array.from([7, -1, 300, -32768, 32767, 5, 6]);
    const parts = [backing.subarray(1, 3), new Int16Array(0), backing.subarray(3)];
    const whole = encodeWav(backing.subarray(1), 16000);
    expect(encodeWav(parts, 16000).equals(whole)).toBe(true);
    expect(whole.readUInt32LE(40)).toBe(12);
    expect(encodeWav([], 8000).length).toBe(44);
  });

  it('rejects a nonsensical rate', () => {
    expect(() => encodeWav(new Int16Array(1), 0)).toThrow(/sample rate/);
    expect(() => encodeWav(new Int16Array(1), 8000.5)).toThrow(/sample rate/);
  });
});

describe('parseWav on files made by sox and espeak-ng', () => {
  const ref = parseWav(fixture('audio-speech-pt-8k-s16.wav'));

  it('reads the 16-bit reference', () => {
    expect(ref).toMatchObject({ sampleRateHz: 8000, channels: 1, bitsPerSample: 16, format: 'pcm' });
    expect(ref.samples.length).toBe(16095);
    expect(ref.durationMs).toBeCloseTo(2011.875, 6);
  });

  it('reads float32 (fmt with cbSize, fact chunk) and 32-bit extensible PCM sample-exact', () => {
    for (const [name, format, bits] of [
      ['audio-speech-pt-8k-f32.wav', 'float', 32],
      ['audio-speech-pt-8k-s32.wav', 'pcm', 32],
    ] as const) {
      const p = parseWav(fixture(name));
      expect(p).toMatchObject({ format, bitsPerSample: bits, channels: 1, sampleRateHz: 8000 });
      expect(p.samples.length).toBe(8000);
      expect(Array.from(p.samples)).toEqual(Array.from(ref.samples.subarray(0, 8000)));
    }
  });

  it('downmixes 24-bit stereo WAVE_FORMAT_EXTENSIBLE by averaging the channels', () => {
    const p = parseWav(fixture('audio-speech-pt-8k-s24-stereo.wav'));
    expect(p).toMatchObject({ format: 'pcm', bitsPerSample: 24, channels: 2, sampleRateHz: 8000 });
    expect(p.samples.length).toBe(8000);
    // right = left / 2, so the mix is 0.75 x the reference
    let worst = 0;
    for (let i = 0; i < 8000; i++)
      worst = Math.max(worst, Math.abs((p.samples[i] ?? 0) - 0.75 * (ref.samples[i] ?? 0)));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('reads unsigned 8-bit PCM', () => {
    const p = parseWav(fixture('audio-speech-pt-8k-u8.wav'));
    expect(p).toMatchObject({ format: 'pcm', bitsPerSample: 8 });
    expect(p.samples.length).toBe(ref.samples.length);
    let worst = 0;
    for (let i = 0; i < ref.samples.length; i++) {
      worst = Math.max(worst, Math.abs((p.samples[i] ?? 0) - (ref.samples[i] ?? 0)));
    }
    expect(worst).toBeLessThanOrEqual(128); // half an 8-bit step
  });

  it('reads an espeak-ng stdout WAV whose data size is larger than the file', () => {
    const raw = fixture('audio-espeak-stdout-22k.wav');
    expect(raw.readUInt32LE(40)).toBeGreaterThan(raw.length);
    const p = parseWav(raw);
    expect(p.sampleRateHz).toBe(22050);
    expect(p.truncated).toBe(true);
    expect(p.samples.length).toBe((raw.length - 44) / 2);
  });
});

describe('parseWav tolerance', () => {
  const data = s16(ramp);

  it('skips LIST and fact chunks before and after fmt', () => {
    const list = Buffer.from('INFOISFT\x06\x00\x00\x00Lavf\x00\x00', 'latin1');
    const wav = riff([
      ['LIST', list],
      ['fmt ', fmt(1, 1, 8000, 16)],
      ['fact', Buffer.from([100, 0, 0, 0])],
      ['data', data],
      ['LIST', list],
    ]);
    expect(Array.from(parseWav(wav).samples)).toEqual(ramp);
  });

  it('handles odd-sized chunks with and without the pad byte', () => {
    const odd = Buffer.from('abc', 'latin1');
    for (const pad of [true, false]) {
      const wav = riff(
        [
          ['fmt ', fmt(1, 1, 8000, 16)],
          ['junk', odd],
          ['data', data],
        ],
        pad,
      );
      expect(Array.from(parseWav(wav).samples)).toEqual(ramp);
    }
  });

  it('accepts a data chunk before the fmt chunk', () => {
    const wav = riff([
      ['data', data],
      ['fmt ', fmt(1, 1, 16000, 16)],
    ]);
    const p = parseWav(wav);
    expect(p.sampleRateHz).toBe(16000);
    expect(Array.from(p.samples)).toEqual(ramp);
  });

  it('takes the rest of the file when the data size is 0 or 0xFFFFFFFF (streamed)', () => {
    for (const size of [0, 0xffffffff]) {
      const p = parseWav(
        riff([
          ['fmt ', fmt(1, 1, 8000, 16)],
          ['data', data, size],
        ]),
      );
      expect(Array.from(p.samples)).toEqual(ramp);
      expect(p.truncated).toBe(false);
    }
  });

  it('keeps what there is of a truncated file, dropping a partial sample', () => {
    const full = riff([
      ['fmt ', fmt(1, 1, 8000, 16)],
      ['data', data],
    ]);
    const cut = full.subarray(0, full.length - 51);
    const p = parseWav(cut);
    expect(p.truncated).toBe(true);
    expect(Array.from(p.samples)).toEqual(ramp.slice(0, 74));
  });

  it('reads an RF64 header with a ds64 chunk', () => {
    const ds64 = Buffer.alloc(28);
    ds64.writeBigUInt64LE(BigInt(data.length + 100), 0);
    ds64.writeBigUInt64LE(BigInt(data.length), 8);
    const wav = riff([
      ['ds64', ds64],
      ['fmt ', fmt(1, 1, 8000, 16)],
      ['data', data, 0xffffffff],
    ]);
    wav.write('RF64', 0, 'latin1');
    expect(Array.from(parseWav(wav).samples)).toEqual(ramp);
  });

  it('converts synthetic 8/24/32-bit PCM, float32/64, mu-law and A-law', () => {
    const u8 = Buffer.from([0, 128, 255]);
    expect(
      Array.from(
        parseWav(
          riff([
            ['fmt ', fmt(1, 1, 8000, 8)],
            ['data', u8],
          ]),
        ).samples,
      ),
    ).toEqual([-32768, 0, 32512]);
    const s24 = Buffer.from([0x00, 0x00, 0x80, 0xff, 0xff, 0x7f, 0x80, 0x00, 0x00]);
    expect(
      Array.from(
        parseWav(
          riff([
            ['fmt ', fmt(1, 1, 8000, 24)],
            ['data', s24],
          ]),
        ).samples,
      ),
    ).toEqual([-32768, 32767, 1]);
    const s32 = Buffer.alloc(8);
    s32.writeInt32LE(-0x80000000, 0);
    s32.writeInt32LE(0x12345678, 4);
    expect(
      Array.from(
        parseWav(
          riff([
            ['fmt ', fmt(1, 1, 8000, 32)],
            ['data', s32],
          ]),
        ).samples,
      ),
    ).toEqual([-32768, 0x1234]);
    const f32 = Buffer.alloc(20);
    [0.5, -1, 1.5, -2, Number.NaN].forEach((v, i) => f32.writeFloatLE(v, i * 4));
    expect(
      Array.from(
        parseWav(
          riff([
            ['fmt ', fmt(3, 1, 8000, 32)],
            ['data', f32],
          ]),
        ).samples,
      ),
    ).toEqual([16384, -32768, 32767, -32768, 0]);
    const f64 = Buffer.alloc(16);
    f64.writeDoubleLE(0.25, 0);
    f64.writeDoubleLE(-0.25, 8);
    const pf64 = parseWav(
      riff([
        ['fmt ', fmtExtensible(3, 1, 8000, 64)],
        ['data', f64],
      ]),
    );
    expect(pf64.format).toBe('float');
    expect(Array.from(pf64.samples)).toEqual([8192, -8192]);
    const mu = parseWav(
      riff([
        ['fmt ', fmt(7, 1, 8000, 8)],
        ['data', Buffer.from([0xff, 0x80, 0x00])],
      ]),
    );
    expect(mu.format).toBe('mulaw');
    expect(Array.from(mu.samples)).toEqual([0, 32124, -32124]);
    const a = parseWav(
      riff([
        ['fmt ', fmtExtensible(6, 1, 8000, 8)],
        ['data', Buffer.from([0xd5, 0xaa])],
      ]),
    );
    expect(a.format).toBe('alaw');
    expect(Array.from(a.samples)).toEqual([8, 32256]);
  });

  it('downmixes any channel count, rounding the average', () => {
    const three = s16([300, 0, 1, 32767, 32767, 32767]);
    const p = parseWav(
      riff([
        ['fmt ', fmt(1, 3, 8000, 16)],
        ['data', three],
      ]),
    );
    expect(p.channels).toBe(3);
    expect(Array.from(p.samples)).toEqual([100, 32767]);
  });

  it('reads 24-bit samples in 4-byte containers (blockAlign says so)', () => {
    const body = Buffer.alloc(8);
    body.writeInt32LE(1000 * 65536, 0);
    body.writeInt32LE(-1000 * 65536, 4);
    const p = parseWav(
      riff([
        ['fmt ', fmt(1, 1, 8000, 24, 4)],
        ['data', body],
      ]),
    );
    expect(Array.from(p.samples)).toEqual([1000, -1000]);
  });
});

describe('parseWav rejects what is not a WAV', () => {
  const data = s16(ramp);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['empty', Buffer.alloc(0), /not a WAV/],
    ['mp3', Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00\xff\xfb', 'latin1'), /not a WAV/],
    ['RIFF but AVI', Buffer.from('RIFF\x04\x00\x00\x00AVI ', 'latin1'), /not a WAV/],
    ['no fmt', riff([['data', data]]), /no fmt/],
    ['no data', riff([['fmt ', fmt(1, 1, 8000, 16)]]), /no data/],
    [
      'short fmt',
      riff([
        ['fmt ', Buffer.alloc(10)],
        ['data', data],
      ]),
      /too short/,
    ],
    [
      'ADPCM',
      riff([
        ['fmt ', fmt(2, 1, 8000, 4)],
        ['data', data],
      ]),
      /unsupported WAV encoding \(format tag 0x2\)/,
    ],
    [
      'MP3 in WAV',
      riff([
        ['fmt ', fmt(0x55, 1, 8000, 0)],
        ['data', data],
      ]),
      /0x55/,
    ],
    [
      '0 channels',
      riff([
        ['fmt ', fmt(1, 0, 8000, 16, 2)],
        ['data', data],
      ]),
      /0 channels/,
    ],
    [
      '0 Hz',
      riff([
        ['fmt ', fmt(1, 1, 0, 16)],
        ['data', data],
      ]),
      /sample rate/,
    ],
    [
      '12-bit float',
      riff([
        ['fmt ', fmt(3, 1, 8000, 16)],
        ['data', data],
      ]),
      /sample size/,
    ],
    [
      '16-bit mu-law',
      riff([
        ['fmt ', fmt(7, 1, 8000, 16)],
        ['data', data],
      ]),
      /sample size/,
    ],
  ];
  it.each(cases)('%s', (_name, buf, message) => {
    let caught: unknown;
    try {
      parseWav(buf);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(AudioFormatError);
    expect((caught as AudioFormatError).code).toBe('E_AUDIO_FORMAT');
    expect((caught as Error).message).toMatch(message);
  });
});
