/**
 * WAV read/write. Reading is tolerant, because the files come from TTS vendors, sox, espeak-ng and
 * FreeSWITCH's `record`: extra chunks (LIST, fact, bext), unpadded odd chunks, WAVE_FORMAT_EXTENSIBLE,
 * streamed headers whose data size is 0 or 0xFFFFFFFF, and files cut short. Writing produces exactly one
 * shape: 16-bit mono PCM with the canonical 44-byte header, which FreeSWITCH plays at any channel rate.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { AudioFormatError, InvalidInputError } from '../core/errors.js';
import { throwIfAborted } from '../core/abort.js';
import { writePcm16 } from './frames.js';
import { alawToLinear, mulawToLinear } from './g711.js';

export type WavFormat = 'pcm' | 'alaw' | 'mulaw' | 'float';

export interface ParsedWav {
  sampleRateHz: number;
  /** Channels in the file; `samples` is always mono. */
  channels: number;
  bitsPerSample: number;
  format: WavFormat;
  /** Mono 16-bit samples (channels averaged, other widths and encodings converted). */
  samples: Int16Array;
  durationMs: number;
  /** The data chunk claimed more bytes than the file holds (cut short, or a streamed header). */
  truncated: boolean;
}

const FORMAT_TAGS: Record<number, WavFormat> = { 1: 'pcm', 3: 'float', 6: 'alaw', 7: 'mulaw' };
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

interface Fmt {
  format: WavFormat;
  channels: number;
  sampleRateHz: number;
  bitsPerSample: number;
  /** Bytes per sample of one channel as stored (the container; 24-bit samples may sit in 4 bytes). */
  container: number;
}

/** Parses a RIFF/RF64 WAVE file into mono 16-bit samples; throws AudioFormatError when it is not one. */
export function parseWav(buf: Uint8Array): ParsedWav {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < 12) throw new AudioFormatError(`not a WAV file: ${b.length} bytes`);
  const riff = b.toString('latin1', 0, 4);
  if ((riff !== 'RIFF' && riff !== 'RF64') || b.toString('latin1', 8, 12) !== 'WAVE') {
    throw new AudioFormatError('not a WAV file: no RIFF/WAVE header');
  }
  let fmt: Fmt | undefined;
  let data: { start: number; length: number; truncated: boolean } | undefined;
  let rf64DataSize: number | undefined;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = parseFmt(b.subarray(body, Math.min(b.length, body + size)));
    } else if (id === 'ds64' && size >= 24 && body + 24 <= b.length) {
      rf64DataSize = Number(b.readBigUInt64LE(body + 8));
    } else if (id === 'data') {
      const available = b.length - body;
      let length = size === 0xffffffff && rf64DataSize !== undefined ? rf64DataSize : size;
      // Streamed writers leave 0 or 0xFFFFFFFF here: the data runs to the end of the file.
      const streamed = size === 0 || (size === 0xffffffff && rf64DataSize === undefined);
      let truncated = false;
      if (streamed) length = available;
      else if (length > available) {
        truncated = true;
        length = available;
      }
      data = { start: body, length, truncated };
      if (fmt || streamed || truncated) break;
    }
    off = nextChunk(b, body, size);
  }
  if (!fmt) throw new AudioFormatError('WAV file has no fmt chunk');
  if (!data) throw new AudioFormatError('WAV file has no data chunk');
  const blockAlign = fmt.container * fmt.channels;
  const frames = Math.floor(data.length / blockAlign);
  const samples = decode(b, data.start, frames, fmt);
  return {
    sampleRateHz: fmt.sampleRateHz,
    channels: fmt.channels,
    bitsPerSample: fmt.bitsPerSample,
    format: fmt.format,
    samples,
    durationMs: (frames * 1000) / fmt.sampleRateHz,
    truncated: data.truncated,
  };
}

/** Offset of the chunk after one of `size` bytes at `body`, allowing for writers that skip the pad byte. */
function nextChunk(b: Buffer, body: number, size: number): number {
  const unpadded = body + size;
  if (size % 2 === 0) return unpadded;
  if (looksLikeChunkId(b, unpadded + 1) || !looksLikeChunkId(b, unpadded)) return unpadded + 1;
  return unpadded;
}

function looksLikeChunkId(b: Buffer, at: number): boolean {
  if (at + 8 > b.length) return false;
  for (let i = at; i < at + 4; i++) {
    const c = b[i] ?? 0;
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function parseFmt(f: Buffer): Fmt {
  if (f.length < 16) throw new AudioFormatError(`WAV fmt chunk too short: ${f.length} bytes`);
  let tag = f.readUInt16LE(0);
  const channels = f.readUInt16LE(2);
  const sampleRateHz = f.readUInt32LE(4);
  const blockAlignField = f.readUInt16LE(12);
  const bitsPerSample = f.readUInt16LE(14);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (f.length < 26) throw new AudioFormatError('WAVE_FORMAT_EXTENSIBLE fmt chunk too short');
    tag = f.readUInt16LE(24); // first two bytes of the sub-format GUID
  }
  const format = FORMAT_TAGS[tag];
  if (!format) throw new AudioFormatError(`unsupported WAV encoding (format tag 0x${tag.toString(16)})`);
  if (channels < 1) throw new AudioFormatError('WAV file declares 0 channels');
  if (sampleRateHz < 1) throw new AudioFormatError('WAV file declares a sample rate of 0');
  const bytes = Math.ceil(bitsPerSample / 8);
  // Trust blockAlign for the container size when it is consistent (24-bit in 4 bytes); some writers get it wrong.
  const fromAlign = blockAlignField / channels;
  const container = Number.isInteger(fromAlign) && fromAlign >= bytes && fromAlign <= 8 ? fromAlign : bytes;
  const ok =
    format === 'pcm'
      ? bitsPerSample >= 1 && bitsPerSample <= 32 && container <= 4
      : format === 'float'
        ? (container === 4 && bitsPerSample === 32) || (container === 8 && bitsPerSample === 64)
        : container === 1;
  if (!ok) throw new AudioFormatError(`unsupported WAV sample size: ${format} ${bitsPerSample}-bit`);
  return { format, channels, sampleRateHz, bitsPerSample, container };
}

function decode(b: Buffer, start: number, frames: number, fmt: Fmt): Int16Array {
  const { channels, container } = fmt;
  if (fmt.format === 'pcm' && container === 2 && channels === 1) {
    // The common case (FreeSWITCH's recordings, TTS output): mono 16-bit little-endian, copied in one go.
    // DataView keeps it right on a big-endian host and for odd byte offsets.
    const out = new Int16Array(frames);
    const view = new DataView(b.buffer, b.byteOffset + start, frames * 2);
    for (let f = 0; f < frames; f++) out[f] = view.getInt16(f * 2, true);
    return out;
  }
  const read = sampleReader(b, fmt);
  const out = new Int16Array(frames);
  const stride = container * channels;
  for (let f = 0; f < frames; f++) {
    const at = start + f * stride;
    let acc = 0;
    for (let c = 0; c < channels; c++) acc += read(at + c * container);
    const v = Math.round(acc / channels);
    out[f] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Reads one sample at a byte offset, on the 16-bit scale (fractional for wider samples). */
function sampleReader(b: Buffer, fmt: Fmt): (at: number) => number {
  switch (fmt.format) {
    case 'mulaw':
      return (at) => mulawToLinear(b[at] ?? 0xff);
    case 'alaw':
      return (at) => alawToLinear(b[at] ?? 0xd5);
    case 'float':
      return fmt.container === 8
        ? (at) => floatTo16(b.readDoubleLE(at))
        : (at) => floatTo16(b.readFloatLE(at));
    case 'pcm':
      switch (fmt.container) {
        case 1:
          return (at) => ((b[at] ?? 128) - 128) * 256; // 8-bit WAV is unsigned
        case 2:
          return (at) => b.readInt16LE(at);
        case 3:
          return (at) => b.readIntLE(at, 3) / 256;
        default:
          return (at) => b.readInt32LE(at) / 65536;
      }
  }
}

function floatTo16(x: number): number {
  if (Number.isNaN(x)) return 0;
  return x * 32768;
}

/**
 * 16-bit mono PCM WAV with the canonical 44-byte header, in one allocation. `samples` may come in parts
 * (a streamed TTS sentence), written one after the other.
 */
export function encodeWav(samples: Int16Array | readonly Int16Array[], sampleRateHz: number): Buffer {
  if (!Number.isInteger(sampleRateHz) || sampleRateHz <= 0) {
    throw new InvalidInputError(`sample rate must be a positive whole number of Hz, got ${sampleRateHz}`);
  }
  const parts = samples instanceof Int16Array ? [samples] : samples;
  let dataBytes = 0;
  for (const p of parts) dataBytes += p.byteLength;
  const h = Buffer.allocUnsafe(44 + dataBytes);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRateHz, 24);
  h.writeUInt32LE(sampleRateHz * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  let at = 44;
  for (const p of parts) at = writePcm16(h, at, p);
  return h;
}

/**
 * Whether files created with `mode` lose permission bits to the process's umask; true when it cannot tell.
 * Read from /proc (Linux), not process.umask(), which sets the umask to 0 for a moment while other threads
 * may be creating files (DEP0139). A procfs read touches no disk.
 */
function umaskStrips(mode: number): boolean {
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'latin1');
  } catch {
    return true;
  }
  const m = /^Umask:\s*([0-7]+)$/m.exec(status);
  return m?.[1] === undefined || (mode & parseInt(m[1], 8)) !== 0;
}

export interface WriteWavOptions {
  /** Final permissions; group-readable by default so FreeSWITCH's group can play the file. */
  mode?: number;
  signal?: AbortSignal;
  /**
   * fsync before the rename (default true). A call's sentence files live for seconds and are deleted with the
   * call: the rename alone keeps readers from seeing half a file, and skipping the flush keeps it off the turn.
   */
  durable?: boolean;
}

/**
 * Writes a WAV so that a reader never sees it half-written: a temporary name in the same directory, fsync,
 * chmod, then rename over `filePath`. Resolves with `filePath`.
 */
export async function writeWavAtomic(
  filePath: string,
  samples: Int16Array | readonly Int16Array[],
  sampleRateHz: number,
  opts: WriteWavOptions = {},
): Promise<string> {
  const { mode = 0o640, signal, durable = true } = opts;
  throwIfAborted(signal);
  const bytes = encodeWav(samples, sampleRateHz);
  const dir = path.dirname(filePath);
  // Dot-prefixed and not ending in .wav, so nothing globbing the directory for audio picks it up.
  const tmp = path.join(dir, `.${path.basename(filePath)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  let renamed = false;
  try {
    try {
      await fh.writeFile(bytes);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    // open()'s mode passes through the umask; chmod sets exactly what we asked for when the umask would take
    // bits away (with the unit's UMask=0027 it does not, and the turn saves a file-system round trip).
    if (umaskStrips(mode)) await chmod(tmp, mode);
    throwIfAborted(signal);
    await rename(tmp, filePath);
    renamed = true;
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
  return filePath;
}
