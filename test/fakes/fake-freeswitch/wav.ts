/** Minimal 16-bit PCM WAV and raw (.r8/.r16/...) file I/O and linear resampling for the fake. */
import { readFileSync, writeFileSync } from 'node:fs';

export interface Pcm {
  sampleRateHz: number;
  /** Mono samples (multi-channel files are down-mixed). */
  samples: Int16Array;
}

/** Reads a PCM WAV (16-bit, any rate, mono or multi-channel) or a raw `.r8`/`.r16`/`.r24`/`.r32`/`.r48` file. */
export function readAudioFile(path: string): Pcm {
  const raw = /\.r(8|16|24|32|48|64)$/.exec(path);
  const data = readFileSync(path);
  if (raw) {
    const rate = Number(raw[1]) * 1000;
    return { sampleRateHz: rate, samples: toInt16(data) };
  }
  return parseWav(data);
}

function toInt16(buf: Buffer): Int16Array {
  const n = Math.floor(buf.length / 2);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readInt16LE(i * 2);
  return out;
}

export function parseWav(data: Buffer): Pcm {
  if (
    data.length < 12 ||
    data.toString('ascii', 0, 4) !== 'RIFF' ||
    data.toString('ascii', 8, 12) !== 'WAVE'
  ) {
    throw new Error('not a RIFF/WAVE file');
  }
  let pos = 12;
  let rate = 0;
  let channels = 0;
  let bits = 0;
  let format = 0;
  while (pos + 8 <= data.length) {
    const id = data.toString('ascii', pos, pos + 4);
    const size = data.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      format = data.readUInt16LE(body);
      channels = data.readUInt16LE(body + 2);
      rate = data.readUInt32LE(body + 4);
      bits = data.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if ((format !== 1 && format !== 0xfffe) || bits !== 16 || channels < 1) {
        throw new Error(`unsupported WAV format ${format}/${bits} bit`);
      }
      const end = Math.min(data.length, body + size);
      const all = toInt16(data.subarray(body, end));
      if (channels === 1) return { sampleRateHz: rate, samples: all };
      const frames = Math.floor(all.length / channels);
      const mono = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += all[i * channels + c] as number;
        mono[i] = Math.round(sum / channels);
      }
      return { sampleRateHz: rate, samples: mono };
    }
    pos = body + size + (size % 2);
  }
  throw new Error('WAV file has no data chunk');
}

/** Linear-interpolation resampler: good enough for energy-based silence detection and duration. */
export function resample(samples: Int16Array, fromHz: number, toHz: number): Int16Array {
  if (fromHz === toHz) return samples;
  const n = Math.floor((samples.length * toHz) / fromHz);
  const out = new Int16Array(n);
  const ratio = fromHz / toHz;
  for (let i = 0; i < n; i++) {
    const x = i * ratio;
    const i0 = Math.floor(x);
    const a = samples[i0] ?? 0;
    const b = samples[i0 + 1] ?? a;
    out[i] = Math.round(a + (b - a) * (x - i0));
  }
  return out;
}

/** A canonical 44-byte-header mono 16-bit WAV. */
export function encodeWav(samples: Int16Array, sampleRateHz: number): Buffer {
  const dataBytes = samples.length * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(sampleRateHz, 24);
  buf.writeUInt32LE(sampleRateHz * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples.length; i++) buf.writeInt16LE(samples[i] as number, 44 + i * 2);
  return buf;
}

export function writeWav(path: string, samples: Int16Array, sampleRateHz: number): number {
  const buf = encodeWav(samples, sampleRateHz);
  writeFileSync(path, buf);
  return buf.length;
}
