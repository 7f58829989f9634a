// The labelled set for the VAD benchmark (bench/vad.bench.ts): clips at 8 and 16 kHz, each with one label
// per 20 ms frame (speech or not). Speech is espeak-ng (pt-BR and en, several voices and speeds), labelled
// from the clean render: a frame is speech when its mean absolute amplitude is within 36 dB of the speech
// level (50 on a render normalised to -20 dBFS RMS). The same utterances, gaps and levels (seeded) are laid
// out in every speech condition, so a difference between conditions is the condition's.
//
// Not available on the machine the figures were taken on, so not in the set: pocketsphinx's test audio
// (Debian's pocketsphinx and pocketsphinx-en-us ship the model only) and any real music (no music file in the
// installed Debian packages). Music on hold is synthesized: a chord progression with a melody, harmonics and
// envelopes.
//
// espeak-ng renders are cached in $TMPDIR/voice-ai-vad-set/ (keyed by voice, speed and text), never in the repo.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { frameEnergy } from '../src/audio/energy.js';
import { FRAME_MS, frameSamples } from '../src/audio/frames.js';
import { mulawDecode, mulawEncode } from '../src/audio/g711.js';
import { resample } from '../src/audio/resample.js';
import { encodeWav, parseWav } from '../src/audio/wav.js';

export type RateHz = 8000 | 16000;

export type Condition =
  | 'clean' // speech, digital silence between
  | 'white-45' // speech + white noise at -45 dBFS RMS
  | 'pink-35' // speech + pink noise at -35 dBFS RMS
  | 'g711-pink-45' // speech + pink noise at -45 dBFS, through a G.711 mu-law leg (8 kHz)
  | 'noise-white-40' // white noise at -40 dBFS only
  | 'noise-pink-35' // pink noise at -35 dBFS only
  | 'moh'; // synthesized music on hold at -24 dBFS RMS only

export const SPEECH_CONDITIONS: readonly Condition[] = ['clean', 'white-45', 'pink-35', 'g711-pink-45'];
export const NON_SPEECH_CONDITIONS: readonly Condition[] = ['noise-white-40', 'noise-pink-35', 'moh'];

export interface Utterance {
  /** Start of its first speech frame and end of its last, ms from the clip's start. */
  startMs: number;
  endMs: number;
}

export interface LabelledClip {
  condition: Condition;
  sampleRateHz: RateHz;
  samples: Int16Array;
  /** One per 20 ms frame: 1 = speech. */
  labels: Uint8Array;
  utterances: Utterance[];
  durationMs: number;
}

const SENTENCES: readonly { voice: string; speed: number; text: string }[] = [
  { voice: 'pt-br', speed: 160, text: 'Bom dia, eu gostaria de falar com o doutor João, por favor.' },
  { voice: 'en-us', speed: 170, text: 'Hello, I am calling about the invoice you sent last week.' },
  { voice: 'pt-br+f3', speed: 150, text: 'Ele pode me ligar de volta amanhã de manhã?' },
  { voice: 'en+m3', speed: 160, text: 'Could you tell him that the delivery is delayed until Friday?' },
  { voice: 'pt-br+m2', speed: 175, text: 'O meu número é nove oito sete seis, cinco quatro três dois.' },
  { voice: 'en-us+f2', speed: 150, text: 'Yes.' },
  { voice: 'pt-br', speed: 140, text: 'Não, obrigado. Só isso mesmo.' },
  { voice: 'en+f4', speed: 180, text: 'I need to reschedule my appointment for next Tuesday afternoon.' },
  { voice: 'pt-br+f2', speed: 165, text: 'Sim.' },
  { voice: 'en-us', speed: 140, text: 'My name is Margaret Thompson, spelled with an h.' },
  { voice: 'pt-br+m3', speed: 155, text: 'Estou ligando da farmácia para confirmar o pedido de ontem.' },
  { voice: 'en+m2', speed: 165, text: 'Okay, thank you very much, goodbye.' },
];

/** Mulberry32: small, seeded, good enough for noise and layout. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): () => number {
  return () => {
    const u = Math.max(rand(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
}

const dbfs = (db: number): number => 32768 * 10 ** (db / 20);

function rms(x: Float64Array | Int16Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / Math.max(1, x.length));
}

/** Scales `x` in place to `db` dBFS RMS. */
function toLevel(x: Float64Array, db: number): Float64Array {
  const g = dbfs(db) / Math.max(1e-9, rms(x));
  for (let i = 0; i < x.length; i++) x[i] = (x[i] ?? 0) * g;
  return x;
}

export function whiteNoise(n: number, db: number, seed: number): Float64Array {
  const g = gaussian(rng(seed));
  return toLevel(Float64Array.from({ length: n }, g), db);
}

/** Pink (1/f) noise by Paul Kellet's filter over white noise. */
export function pinkNoise(n: number, db: number, seed: number): Float64Array {
  const g = gaussian(rng(seed));
  const out = new Float64Array(n);
  let b0 = 0,
    b1 = 0,
    b2 = 0,
    b3 = 0,
    b4 = 0,
    b5 = 0,
    b6 = 0;
  for (let i = 0; i < n; i++) {
    const w = g();
    b0 = 0.99886 * b0 + w * 0.0555179;
    b1 = 0.99332 * b1 + w * 0.0750759;
    b2 = 0.969 * b2 + w * 0.153852;
    b3 = 0.8665 * b3 + w * 0.3104856;
    b4 = 0.55 * b4 + w * 0.5329522;
    b5 = -0.7616 * b5 - w * 0.016898;
    out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362;
    b6 = w * 0.115926;
  }
  return toLevel(out, db);
}

/**
 * Music on hold: I-V-vi-IV in C, 2 s a chord (three voices and a bass), a melody of 1/4 and 1/2 s notes over
 * it; every note has 5 harmonics (1/k) and an attack/decay envelope; a little vibrato on the melody.
 */
export function musicOnHold(n: number, rateHz: number, db: number, seed: number): Float64Array {
  const rand = rng(seed);
  const out = new Float64Array(n);
  const midi = (m: number): number => 440 * 2 ** ((m - 69) / 12);
  const chords = [
    [60, 64, 67],
    [55, 59, 62],
    [57, 60, 64],
    [53, 57, 60],
  ];
  const addNote = (f0: number, startS: number, durS: number, amp: number, vibrato: boolean): void => {
    const s0 = Math.floor(startS * rateHz);
    const len = Math.floor(durS * rateHz);
    for (let k = 1; k <= 5; k++) {
      if (f0 * k >= rateHz / 2 - 200) break;
      const ak = amp / k;
      let phase = 0;
      for (let i = 0; i < len && s0 + i < n; i++) {
        const t = i / rateHz;
        const env = Math.min(1, t / 0.02) * Math.exp(-t * 1.5);
        const f = f0 * k * (vibrato ? 1 + 0.004 * Math.sin(2 * Math.PI * 5 * t) : 1);
        phase += (2 * Math.PI * f) / rateHz;
        out[s0 + i] = (out[s0 + i] ?? 0) + ak * env * Math.sin(phase);
      }
    }
  };
  const totalS = n / rateHz;
  for (let c = 0; c * 2 < totalS; c++) {
    const chord = chords[c % chords.length] ?? [60, 64, 67];
    for (const m of chord) addNote(midi(m), c * 2, 2.2, 0.25, false);
    addNote(midi((chord[0] ?? 60) - 24), c * 2, 2.2, 0.35, false);
    let t = c * 2;
    while (t < c * 2 + 2) {
      const d = rand() < 0.6 ? 0.25 : 0.5;
      const m = (chord[Math.floor(rand() * 3)] ?? 60) + 12 + (rand() < 0.3 ? 2 : 0);
      addNote(midi(m), t, d * 1.1, 0.3, true);
      t += d;
    }
  }
  return toLevel(out, db);
}

function cacheDir(): string {
  const dir = path.join(tmpdir(), 'voice-ai-vad-set');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** espeak-ng's render of one sentence (22,050 Hz), cached. */
function espeak(voice: string, speed: number, text: string): { samples: Int16Array; sampleRateHz: number } {
  const key = createHash('sha256').update(`${voice}\0${speed}\0${text}`).digest('hex').slice(0, 16);
  const file = path.join(cacheDir(), `espeak-${key}.wav`);
  if (!existsSync(file)) {
    const r = spawnSync('espeak-ng', ['-v', voice, '-s', String(speed), '--stdout', text], {
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.error !== undefined || r.status !== 0) {
      throw new Error(`espeak-ng failed for ${voice}: ${r.error?.message ?? r.stderr.toString()}`);
    }
    const w = parseWav(r.stdout);
    writeFileSync(file, encodeWav(w.samples, w.sampleRateHz));
  }
  const w = parseWav(readFileSync(file));
  return { samples: w.samples, sampleRateHz: w.sampleRateHz };
}

/** Mean absolute amplitude a clean frame needs to be labelled speech, on a render normalised to -20 dBFS. */
const LABEL_THRESHOLD = 50;
const SPEECH_LEVEL_DB = -20;

interface Layout {
  /** Clean speech at the clip's rate (float, for mixing), and its labels. */
  speech: Float64Array;
  labels: Uint8Array;
  utterances: Utterance[];
}

function layoutSpeech(rateHz: RateHz, seed: number): Layout {
  const rand = rng(seed);
  const n = frameSamples(rateHz, FRAME_MS);
  const parts: { samples: Float64Array; gain: number }[] = [];
  const gaps: number[] = [];
  for (const s of SENTENCES) {
    const r = espeak(s.voice, s.speed, s.text);
    const at = resample(r.samples, r.sampleRateHz, rateHz);
    // Normalise on the voiced part (frames over 1% of full scale), so a sentence with long pauses is not
    // boosted; then a per-utterance level from -20 to -32 dBFS (a quiet caller), applied after labelling.
    const voiced: number[] = [];
    for (let off = 0; off + n <= at.length; off += n) {
      if (frameEnergy(at, off, n) > 100) for (let i = 0; i < n; i++) voiced.push(at[off + i] ?? 0);
    }
    const g = dbfs(SPEECH_LEVEL_DB) / Math.max(1, rms(Int16Array.from(voiced)));
    parts.push({ samples: Float64Array.from(at, (v) => v * g), gain: 10 ** (-(rand() * 12) / 20) });
    gaps.push(Math.round((800 + rand() * 1200) / FRAME_MS) * FRAME_MS);
  }
  const lead = 1000;
  const totalMs =
    lead + parts.reduce((ms, p, i) => ms + Math.ceil(p.samples.length / n) * FRAME_MS + (gaps[i] ?? 0), 0);
  const frames = totalMs / FRAME_MS;
  const speech = new Float64Array(frames * n);
  const labels = new Uint8Array(frames);
  const utterances: Utterance[] = [];
  let atFrame = lead / FRAME_MS;
  parts.forEach((p, i) => {
    const pFrames = Math.ceil(p.samples.length / n);
    let first = -1;
    let last = -1;
    for (let f = 0; f < pFrames; f++) {
      const seg = p.samples.subarray(f * n, (f + 1) * n);
      let sum = 0;
      for (const v of seg) sum += Math.abs(v);
      if (sum / n >= LABEL_THRESHOLD) {
        labels[atFrame + f] = 1;
        if (first < 0) first = f;
        last = f;
      }
    }
    for (let j = 0; j < p.samples.length; j++) speech[atFrame * n + j] = (p.samples[j] ?? 0) * p.gain;
    if (first >= 0) {
      utterances.push({ startMs: (atFrame + first) * FRAME_MS, endMs: (atFrame + last + 1) * FRAME_MS });
    }
    atFrame += pFrames + (gaps[i] ?? 0) / FRAME_MS;
  });
  return { speech, labels, utterances };
}

function toInt16(x: Float64Array): Int16Array {
  return Int16Array.from(x, (v) => Math.max(-32768, Math.min(32767, Math.round(v))));
}

function mix(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + (b[i] ?? 0));
}

/** Through a PCMU leg: mu-law at 8 kHz (a 16 kHz clip goes down to 8 kHz and back up, as a bridged call). */
function g711RoundTrip(x: Int16Array, rateHz: RateHz): Int16Array {
  if (rateHz === 8000) return mulawDecode(mulawEncode(x));
  const nb = mulawDecode(mulawEncode(resample(x, 16000, 8000)));
  return resample(nb, 8000, 16000).subarray(0, x.length);
}

const NON_SPEECH_MS = 60_000;

/** Every condition at `rateHz`. Deterministic: the same seed gives the same samples and labels. */
export function buildVadSet(rateHz: RateHz, seed = 10): LabelledClip[] {
  const layout = layoutSpeech(rateHz, seed);
  const n = layout.speech.length;
  const clips: LabelledClip[] = [];
  const speechClip = (condition: Condition, samples: Int16Array): LabelledClip => ({
    condition,
    sampleRateHz: rateHz,
    samples,
    labels: layout.labels,
    utterances: layout.utterances,
    durationMs: layout.labels.length * FRAME_MS,
  });
  clips.push(speechClip('clean', toInt16(layout.speech)));
  clips.push(speechClip('white-45', toInt16(mix(layout.speech, whiteNoise(n, -45, seed + 1)))));
  clips.push(speechClip('pink-35', toInt16(mix(layout.speech, pinkNoise(n, -35, seed + 2)))));
  clips.push(
    speechClip(
      'g711-pink-45',
      g711RoundTrip(toInt16(mix(layout.speech, pinkNoise(n, -45, seed + 3))), rateHz),
    ),
  );
  const m = (rateHz * NON_SPEECH_MS) / 1000;
  const silentClip = (condition: Condition, samples: Int16Array): LabelledClip => ({
    condition,
    sampleRateHz: rateHz,
    samples,
    labels: new Uint8Array(NON_SPEECH_MS / FRAME_MS),
    utterances: [],
    durationMs: NON_SPEECH_MS,
  });
  clips.push(silentClip('noise-white-40', toInt16(whiteNoise(m, -40, seed + 4))));
  clips.push(silentClip('noise-pink-35', toInt16(pinkNoise(m, -35, seed + 5))));
  clips.push(silentClip('moh', toInt16(musicOnHold(m, rateHz, -24, seed + 6))));
  return clips;
}

/** `npx tsx bench/vad-set.ts [dir]`: writes every clip as a WAV (and its labels) to listen to. */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2] ?? path.join(cacheDir(), 'clips');
  mkdirSync(dir, { recursive: true });
  for (const rate of [8000, 16000] as const) {
    for (const c of buildVadSet(rate)) {
      const base = path.join(dir, `${c.condition}-${rate / 1000}k`);
      writeFileSync(`${base}.wav`, encodeWav(c.samples, rate));
      writeFileSync(`${base}.labels`, Array.from(c.labels).join(''));
      const speechMs = c.labels.reduce((s, v) => s + v, 0) * FRAME_MS;
      process.stdout.write(
        `${path.basename(base).padEnd(22)} ${(c.durationMs / 1000).toFixed(1)} s, speech ${(speechMs / 1000).toFixed(1)} s, ${c.utterances.length} utterances\n`,
      );
    }
  }
  process.stdout.write(`written to ${dir}\n`);
}
