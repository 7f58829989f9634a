/**
 * 16-bit little-endian PCM (L16) bytes <-> samples, and 20 ms framing. FreeSWITCH and mod_audio_stream move
 * audio in 20 ms frames: 160 samples (320 bytes) at 8 kHz, 320 samples (640 bytes) at 16 kHz.
 */
import { InvalidInputError } from '../core/errors.js';

export const FRAME_MS = 20;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Samples in one frame of `frameMs` at `sampleRateHz` (160 for 20 ms at 8 kHz). */
export function frameSamples(sampleRateHz: number, frameMs: number = FRAME_MS): number {
  const n = (sampleRateHz * frameMs) / 1000;
  if (!Number.isInteger(n) || n <= 0) {
    throw new InvalidInputError(
      `a ${frameMs} ms frame at ${sampleRateHz} Hz is not a whole number of samples`,
    );
  }
  return n;
}

/** Bytes in one L16 frame of `frameMs` at `sampleRateHz` (320 for 20 ms at 8 kHz). */
export function frameBytes(sampleRateHz: number, frameMs: number = FRAME_MS): number {
  return frameSamples(sampleRateHz, frameMs) * 2;
}

/** Samples as L16 bytes (a copy). */
export function pcm16ToBytes(samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length * 2);
  writePcm16(out, 0, samples);
  return out;
}

/** Writes `samples` as L16 into `out` at byte `offset`; returns the offset after them. */
export function writePcm16(out: Buffer, offset: number, samples: Int16Array): number {
  if (LITTLE_ENDIAN) {
    out.set(new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength), offset);
  } else {
    for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i] ?? 0, offset + i * 2);
  }
  return offset + samples.byteLength;
}

export interface Pcm16Chunk {
  samples: Int16Array;
  /** The odd trailing byte, to pass as `carry` with the next chunk; undefined when the chunk ended evenly. */
  carry: number | undefined;
}

/**
 * L16 bytes to samples, copying (Node buffers may sit at odd offsets, which Int16Array cannot view).
 * Streamed audio can split a sample across chunks: pass the previous call's `carry` back in.
 */
export function pcm16FromBytes(bytes: Uint8Array, carry?: number): Pcm16Chunk {
  const lead = carry === undefined ? 0 : 1;
  const total = bytes.length + lead;
  const count = total >> 1;
  const out = new Int16Array(count);
  let src = 0;
  let first = 0;
  if (lead === 1 && count > 0) {
    out[0] = (((bytes[0] ?? 0) << 24) >> 16) | ((carry ?? 0) & 0xff);
    src = 1;
    first = 1;
  }
  const rest = count - first;
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer, first * 2, rest * 2).set(bytes.subarray(src, src + rest * 2));
  } else {
    for (let i = 0; i < rest; i++)
      out[first + i] = ((bytes[src + 2 * i + 1] ?? 0) << 8) | (bytes[src + 2 * i] ?? 0);
  }
  let nextCarry: number | undefined;
  if (total % 2 === 1) nextCarry = count === 0 ? (carry ?? bytes[0]) : bytes[bytes.length - 1];
  return { samples: out, carry: nextCarry };
}

/** Stateful wrapper of `pcm16FromBytes` for a stream of byte chunks split anywhere. */
export interface Pcm16Decoder {
  push(bytes: Uint8Array): Int16Array;
  /** Ends the stream; returns how many dangling bytes were dropped (0 or 1) and resets. */
  flush(): number;
}

export function createPcm16Decoder(): Pcm16Decoder {
  let carry: number | undefined;
  return {
    push(bytes) {
      const r = pcm16FromBytes(bytes, carry);
      carry = r.carry;
      return r.samples;
    },
    flush() {
      const dropped = carry === undefined ? 0 : 1;
      carry = undefined;
      return dropped;
    },
  };
}

/**
 * Splits samples into whole frames (views into `samples`, not copies) and the remainder that does not fill
 * a frame.
 */
export function splitFrames(
  samples: Int16Array,
  sampleRateHz: number,
  frameMs: number = FRAME_MS,
): { frames: Int16Array[]; remainder: Int16Array } {
  const n = frameSamples(sampleRateHz, frameMs);
  const frames: Int16Array[] = [];
  let off = 0;
  for (; off + n <= samples.length; off += n) frames.push(samples.subarray(off, off + n));
  return { frames, remainder: samples.subarray(off) };
}

/** Re-chunks a stream of arbitrary-length sample chunks into exact frames. */
export interface Framer {
  /** Whole frames now available (fresh arrays, safe to keep). */
  push(samples: Int16Array): Int16Array[];
  /** The last partial frame, zero-padded to a full frame, or undefined if nothing is pending; resets. */
  flush(): Int16Array | undefined;
}

export function createFramer(sampleRateHz: number, frameMs: number = FRAME_MS): Framer {
  const n = frameSamples(sampleRateHz, frameMs);
  let pending = new Int16Array(n);
  let fill = 0;
  return {
    push(samples) {
      const out: Int16Array[] = [];
      let off = 0;
      while (off < samples.length) {
        const take = Math.min(n - fill, samples.length - off);
        pending.set(samples.subarray(off, off + take), fill);
        fill += take;
        off += take;
        if (fill === n) {
          out.push(pending);
          pending = new Int16Array(n);
          fill = 0;
        }
      }
      return out;
    },
    flush() {
      if (fill === 0) return undefined;
      const last = pending; // the tail beyond `fill` is still zero: Int16Array starts zeroed
      pending = new Int16Array(n);
      fill = 0;
      return last;
    },
  };
}
