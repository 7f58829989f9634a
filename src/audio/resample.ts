/**
 * Sample-rate conversion for telephony speech: a polyphase windowed-sinc (Kaiser) FIR. The low-pass sits
 * just under the lower of the two Nyquist frequencies, so downsampling (24 kHz TTS to an 8 kHz call) does
 * not fold 4-12 kHz energy back into the voice band. The one-shot and the streaming resampler run the same
 * code, so a stream's concatenated output equals the one-shot output exactly.
 */
import { InvalidInputError } from '../core/errors.js';

/** Passband edge as a fraction of the lower Nyquist frequency (3.68 kHz when one side is 8 kHz). */
const CUTOFF = 0.92;
/** Sinc zero crossings on each side of the centre, at the filter's cutoff. */
const ZERO_CROSSINGS = 16;
/** Kaiser beta: about 80 dB stop-band attenuation. */
const KAISER_BETA = 8;
/** Phases kept in the table; beyond this the fractional position is rounded to 1/MAX_PHASES of a sample. */
const MAX_PHASES = 1024;

export interface Resampler {
  readonly fromHz: number;
  readonly toHz: number;
  /** Output for the input received so far, held back by the filter's look-ahead (about 1 ms). */
  push(chunk: Int16Array): Int16Array;
  /** Ends the stream (the input is taken as followed by silence), returns the tail, and resets. */
  flush(): Int16Array;
}

/** Converts a whole buffer; returns a copy when the rates are equal. */
export function resample(samples: Int16Array, fromHz: number, toHz: number): Int16Array {
  const r = createResampler(fromHz, toHz);
  const head = r.push(samples);
  const tail = r.flush();
  if (tail.length === 0) return head;
  const out = new Int16Array(head.length + tail.length);
  out.set(head);
  out.set(tail, head.length);
  return out;
}

/** Streaming resampler; output length for N input samples is ceil(N * toHz / fromHz) once flushed. */
export function createResampler(fromHz: number, toHz: number): Resampler {
  checkRate(fromHz, 'fromHz');
  checkRate(toHz, 'toHz');
  if (fromHz === toHz) {
    return { fromHz, toHz, push: (chunk) => chunk.slice(), flush: () => new Int16Array(0) };
  }
  const g = gcd(fromHz, toHz);
  const up = toHz / g; // output position n sits at input time n * down / up
  const down = fromHz / g;
  const bank = cachedFilterBank(fromHz, toHz, up);
  const { taps, half, phases, symmetric } = bank;
  const coeffs = bank.coeffs;

  // buf[0, len) is the history: buf[0] is input sample number `base`; outputs need input indices
  // [i - half + 1, i + half]. Float64 so the inner loop multiplies doubles without an int conversion per tap.
  // The stream is taken as preceded and followed by silence: the history starts with the zeros before sample
  // 0 and flush appends the zeros after the last one, so every output reads all its taps from history without
  // range checks. buf is reused (grown, never shrunk; consumed input is moved down in place): a call's TTS
  // streams through here, and a fresh array per chunk was about a megabyte of garbage per turn.
  const lead = half - 1;
  let buf = new Float64Array(Math.max(4096, 2 * taps));
  let len = lead;
  let base = -lead;
  let received = 0;
  let i = 0; // integer part of the next output's input position
  let frac = 0; // fractional part, in 1/up units
  const step = Math.floor(down / up);
  const stepFrac = down % up;

  const produce = (final: boolean): Int16Array => {
    // Computes every output with i + half < received (all its inputs are here), or, when final, i < received
    // (then the trailing zeros are in history).
    const out = new Int16Array(Math.max(0, Math.ceil(((received - i) * up) / down) + 1));
    // Locals, not the closure's variables, in the loop: V8 keeps them in registers.
    const h = buf;
    const c = coeffs;
    const b = base;
    let at = i;
    let fr = frac;
    let n = 0;
    const limit = final ? received : received - half;
    while (at < limit) {
      const row = phases === up ? fr : Math.round((fr * phases) / up);
      const cOff = row * taps;
      const start = at - lead - b;
      const acc = symmetric ? dotSymmetric(h, start, c, lead) : dot(h, start, c, cOff, taps);
      out[n++] = acc >= 32767 ? 32767 : acc <= -32768 ? -32768 : Math.round(acc);
      at += step;
      fr += stepFrac;
      if (fr >= up) {
        fr -= up;
        at += 1;
      }
    }
    i = at;
    frac = fr;
    // Drop input no future output will read.
    const keepFrom = Math.min(i - half + 1, received) - base;
    if (keepFrom > 0) {
      buf.copyWithin(0, keepFrom, len);
      len -= keepFrom;
      base += keepFrom;
    }
    return n === out.length ? out : out.slice(0, n);
  };

  /** Appends `chunk`, or `zeros` samples of silence, to the history. */
  const append = (chunk: Int16Array | null, zeros: number): void => {
    const added = chunk === null ? zeros : chunk.length;
    if (len + added > buf.length) {
      const grown = new Float64Array(Math.max(len + added, 2 * buf.length));
      grown.set(buf.subarray(0, len));
      buf = grown;
    }
    if (chunk === null) buf.fill(0, len, len + added);
    else buf.set(chunk, len);
    len += added;
  };

  return {
    fromHz,
    toHz,
    push(chunk) {
      if (chunk.length === 0) return new Int16Array(0);
      append(chunk, 0);
      received += chunk.length;
      return produce(false);
    },
    flush() {
      append(null, half);
      const out = produce(true);
      buf.fill(0, 0, lead);
      len = lead;
      base = -lead;
      received = i = frac = 0;
      return out;
    },
  };
}

/**
 * The sum of h[start + k] * c[cOff + k] for k in [0, taps): the hot path (106 taps per output for 24 -> 8 kHz).
 * Four partial sums let the multiplies overlap. The caller keeps every index in range; the casts only drop
 * `| undefined`.
 */
function dot(h: Float64Array, start: number, c: Float64Array, cOff: number, taps: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let k = 0;
  for (; k + 3 < taps; k += 4) {
    const p = start + k;
    const q = cOff + k;
    a0 += (h[p] as number) * (c[q] as number);
    a1 += (h[p + 1] as number) * (c[q + 1] as number);
    a2 += (h[p + 2] as number) * (c[q + 2] as number);
    a3 += (h[p + 3] as number) * (c[q + 3] as number);
  }
  for (; k < taps; k++) a0 += (h[start + k] as number) * (c[cOff + k] as number);
  return a0 + a1 + (a2 + a3);
}

/**
 * dot() for a single-phase bank (an integer decimation such as 24 -> 8 kHz) whose taps are symmetric about
 * tap m = half - 1 (the last tap, at the window's edge, is zero): the pairs share one multiply, which is about
 * a fifth faster.
 */
function dotSymmetric(h: Float64Array, start: number, c: Float64Array, m: number): number {
  let a0 = 0;
  let a1 = 0;
  const end = start + 2 * m;
  let k = 0;
  for (; k + 1 < m; k += 2) {
    a0 += (c[k] as number) * ((h[start + k] as number) + (h[end - k] as number));
    a1 += (c[k + 1] as number) * ((h[start + k + 1] as number) + (h[end - k - 1] as number));
  }
  for (; k < m; k++) a0 += (c[k] as number) * ((h[start + k] as number) + (h[end - k] as number));
  return a0 + a1 + (c[m] as number) * (h[start + m] as number);
}

interface FilterBank {
  /** Row r holds the taps for fractional offset r / phases; phases + 1 rows so rounding up stays in range. */
  coeffs: Float64Array;
  taps: number;
  half: number;
  phases: number;
  /** One phase whose row is exactly symmetric about tap half - 1 with a zero last tap: dotSymmetric applies. */
  symmetric: boolean;
}

/** Filter banks by rate pair: every TTS sentence builds a resampler, the table is the same each time. */
const banks = new Map<string, FilterBank>();

function cachedFilterBank(fromHz: number, toHz: number, up: number): FilterBank {
  const key = `${fromHz}:${toHz}`;
  let bank = banks.get(key);
  if (!bank) {
    bank = filterBank(fromHz, toHz, up);
    banks.set(key, bank);
  }
  return bank;
}

function filterBank(fromHz: number, toHz: number, up: number): FilterBank {
  // Cutoff in cycles per input sample; for upsampling the input's own Nyquist is the limit.
  const fc = (0.5 * CUTOFF * Math.min(fromHz, toHz)) / fromHz;
  const half = Math.ceil(ZERO_CROSSINGS / (2 * fc));
  const taps = 2 * half;
  const phases = Math.min(up, MAX_PHASES);
  const coeffs = new Float64Array((phases + 1) * taps);
  const i0Beta = besselI0(KAISER_BETA);
  for (let r = 0; r <= phases; r++) {
    const offset = r / phases;
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      // Input index (i - half + 1 + k) is at distance tau from the output's time i + offset.
      const tau = offset - (k - half + 1);
      const x = tau / half;
      const w = Math.abs(x) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - x * x)) / i0Beta;
      const arg = 2 * fc * tau;
      const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
      const c = 2 * fc * sinc * w;
      coeffs[r * taps + k] = c;
      sum += c;
    }
    // Unit DC gain in every phase, so a constant input gives a constant output (no phase ripple).
    for (let k = 0; k < taps; k++) coeffs[r * taps + k] = (coeffs[r * taps + k] ?? 0) / sum;
  }
  return { coeffs, taps, half, phases, symmetric: phases === 1 && isSymmetric(coeffs, half) };
}

/** Row 0 has c[k] === c[2(half - 1) - k] for every k, and c[2 half - 1] === 0 (checked, not assumed). */
function isSymmetric(coeffs: Float64Array, half: number): boolean {
  const m = half - 1;
  if (coeffs[2 * half - 1] !== 0) return false;
  for (let k = 0; k < m; k++) if (coeffs[k] !== coeffs[2 * m - k]) return false;
  return true;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function checkRate(hz: number, name: string): void {
  if (!Number.isInteger(hz) || hz <= 0 || hz > 768_000) {
    throw new InvalidInputError(`${name} must be a positive whole number of Hz, got ${hz}`);
  }
}
