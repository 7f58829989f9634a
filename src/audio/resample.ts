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
  const { taps, half, phases } = bank;
  const coeffs = bank.coeffs;

  // history[0] is input sample number `base`; outputs need input indices [i - half + 1, i + half].
  let history = new Int16Array(0);
  let base = 0;
  let received = 0;
  let i = 0; // integer part of the next output's input position
  let frac = 0; // fractional part, in 1/up units
  const step = Math.floor(down / up);
  const stepFrac = down % up;

  const produce = (final: boolean): Int16Array => {
    // Computes every output with i + half < received (all its inputs are here), or, when final, i < received.
    const out = new Int16Array(Math.max(0, Math.ceil(((received - i) * up) / down) + 1));
    let n = 0;
    const limit = final ? received : received - half;
    while (i < limit) {
      const row = phases === up ? frac : Math.round((frac * phases) / up);
      const cOff = row * taps;
      const start = i - half + 1 - base;
      // Inputs outside [0, received) are silence (zero padding at both ends of the stream).
      const kFrom = Math.max(0, -start);
      const kTo = Math.min(taps, history.length - start);
      let acc = 0;
      // kFrom/kTo keep both indices in range; the casts only drop `| undefined` (this loop is the hot path).
      for (let k = kFrom; k < kTo; k++) acc += (history[start + k] as number) * (coeffs[cOff + k] as number);
      out[n++] = acc >= 32767 ? 32767 : acc <= -32768 ? -32768 : Math.round(acc);
      i += step;
      frac += stepFrac;
      if (frac >= up) {
        frac -= up;
        i += 1;
      }
    }
    // Drop input no future output will read.
    const keepFrom = Math.min(i - half + 1, received) - base;
    if (keepFrom > 0) {
      history = history.slice(keepFrom);
      base += keepFrom;
    }
    return n === out.length ? out : out.slice(0, n);
  };

  return {
    fromHz,
    toHz,
    push(chunk) {
      if (chunk.length === 0) return new Int16Array(0);
      const next = new Int16Array(history.length + chunk.length);
      next.set(history);
      next.set(chunk, history.length);
      history = next;
      received += chunk.length;
      return produce(false);
    },
    flush() {
      const out = produce(true);
      history = new Int16Array(0);
      base = received = i = frac = 0;
      return out;
    },
  };
}

interface FilterBank {
  /** Row r holds the taps for fractional offset r / phases; phases + 1 rows so rounding up stays in range. */
  coeffs: Float64Array;
  taps: number;
  half: number;
  phases: number;
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
  return { coeffs, taps, half, phases };
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
