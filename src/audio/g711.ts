/**
 * ITU-T G.711 mu-law and A-law on 16-bit linear samples, bit-exact with the ITU-T G.191 reference (STL
 * g711.c) and spandsp, which FreeSWITCH uses: negative samples are taken in one's complement, so -1 encodes
 * like 0. (Sun's older g711.c, still common, differs for some negative mu-law inputs; sox also differs by
 * rounding to 14 bits first.)
 */

const MULAW_BIAS = 0x84;
const ALAW_AMI_MASK = 0x55;

/** Index of the highest set bit. */
function topBit(v: number): number {
  return 31 - Math.clz32(v);
}

/** One 16-bit linear sample to a mu-law byte. */
export function linearToMulaw(sample: number): number {
  let linear: number;
  let mask: number;
  if (sample < 0) {
    linear = MULAW_BIAS - sample - 1;
    mask = 0x7f;
  } else {
    linear = MULAW_BIAS + sample;
    mask = 0xff;
  }
  const seg = topBit(linear | 0xff) - 7;
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((linear >> (seg + 3)) & 0x0f)) ^ mask;
}

/** One mu-law byte to a 16-bit linear sample. */
export function mulawToLinear(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + MULAW_BIAS) << ((u & 0x70) >> 4);
  return u & 0x80 ? MULAW_BIAS - t : t - MULAW_BIAS;
}

/** One 16-bit linear sample to an A-law byte. */
export function linearToAlaw(sample: number): number {
  let linear = sample;
  let mask: number;
  if (linear >= 0) {
    mask = ALAW_AMI_MASK | 0x80;
  } else {
    mask = ALAW_AMI_MASK;
    linear = -linear - 1;
  }
  const seg = topBit(linear | 0xff) - 7;
  if (seg >= 8) return 0x7f ^ mask;
  return ((seg << 4) | ((linear >> (seg ? seg + 3 : 4)) & 0x0f)) ^ mask;
}

/** One A-law byte to a 16-bit linear sample. */
export function alawToLinear(byte: number): number {
  const a = (byte & 0xff) ^ ALAW_AMI_MASK;
  let i = (a & 0x0f) << 4;
  const seg = (a & 0x70) >> 4;
  if (seg) i = (i + 0x108) << (seg - 1);
  else i += 8;
  return a & 0x80 ? i : -i;
}

// Look-up tables, built on first use: 256-entry decoders, 65536-entry encoders indexed by the sample's bits.
let tables: { muDec: Int16Array; aDec: Int16Array; muEnc: Uint8Array; aEnc: Uint8Array } | undefined;

function g711Tables(): NonNullable<typeof tables> {
  tables ??= {
    muDec: Int16Array.from({ length: 256 }, (_, b) => mulawToLinear(b)),
    aDec: Int16Array.from({ length: 256 }, (_, b) => alawToLinear(b)),
    muEnc: Uint8Array.from({ length: 65536 }, (_, i) => linearToMulaw((i << 16) >> 16)),
    aEnc: Uint8Array.from({ length: 65536 }, (_, i) => linearToAlaw((i << 16) >> 16)),
  };
  return tables;
}

/** mu-law bytes to 16-bit linear samples (one sample per byte). */
export function mulawDecode(bytes: Uint8Array): Int16Array {
  const { muDec } = g711Tables();
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = muDec[bytes[i] ?? 0xff] ?? 0;
  return out;
}

/** A-law bytes to 16-bit linear samples (one sample per byte). */
export function alawDecode(bytes: Uint8Array): Int16Array {
  const { aDec } = g711Tables();
  const out = new Int16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = aDec[bytes[i] ?? 0xd5] ?? 0;
  return out;
}

/** 16-bit linear samples to mu-law bytes. */
export function mulawEncode(samples: Int16Array): Buffer {
  const { muEnc } = g711Tables();
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = muEnc[(samples[i] ?? 0) & 0xffff] ?? 0xff;
  return out;
}

/** 16-bit linear samples to A-law bytes. */
export function alawEncode(samples: Int16Array): Buffer {
  const { aEnc } = g711Tables();
  const out = Buffer.allocUnsafe(samples.length);
  for (let i = 0; i < samples.length; i++) out[i] = aEnc[(samples[i] ?? 0) & 0xffff] ?? 0xd5;
  return out;
}
