// VAD on the caller's frames: the energy classifier (FreeSWITCH's measure at the daemon's threshold) against
// Silero VAD (v6.2 through src/media/silero-vad.ts, threshold 0.5) on the labelled set of bench/vad-set.ts,
// frame by frame and through the endpointer (createEndpointer's defaults: a turn ends after 600 ms unvoiced).
// At 8 kHz Silero runs twice: its own 8 kHz mode, and on the frames upsampled to 16 kHz.
//
// Silero's decisions are taken as live: after each 20 ms frame the benchmark waits for the windows it
// completed to be scored (`settled()`), as the 20 ms between real frames would; so its figures include the
// one-frame lag of src/media/silero-vad.ts. CPU is user+system time of this process per 20 ms frame.
// Run alone with `npx tsx bench/vad.bench.ts` for the full table; `npm run bench -- vad` gives the summary.
import { pathToFileURL } from 'node:url';
import { DEFAULT_SPEECH_THRESHOLD } from '../src/audio/energy.js';
import { createFramer, FRAME_MS, frameSamples } from '../src/audio/frames.js';
import { createResampler } from '../src/audio/resample.js';
import {
  createEndpointer,
  energyClassifier,
  type EndpointEvent,
  type FrameClassifier,
} from '../src/media/endpointer.js';
import { loadSileroModel, type SileroModel } from '../src/media/silero-vad.js';
import { buildVadSet, SPEECH_CONDITIONS, type LabelledClip, type RateHz } from './vad-set.js';

interface Vad {
  classify: FrameClassifier;
  /** Resolves when the frames pushed so far are decided (Silero scores asynchronously). */
  settled?: () => Promise<void>;
}

interface Contender {
  name: string;
  rates: readonly RateHz[];
  create: (rateHz: RateHz) => Vad;
}

export interface Row {
  vad: string;
  rateHz: RateHz;
  condition: string;
  precision: number;
  recall: number;
  f1: number;
  /** Non-speech frames called speech, over all non-speech frames of the clip. */
  falseAlarm: number;
  utterances: number;
  missed: number;
  /** Extra turns inside one utterance. */
  split: number;
  /** Utterances that ended inside a turn that went on into the next one. */
  merged: number;
  falseTurns: number;
  falseTurnsPerMin: number;
  /** speechEndedAtMs - the utterance's last speech frame's end: median and 90th percentile. */
  endErrP50: number;
  endErrP90: number;
  /** end_of_turn's atMs - the utterance's end (includes the 600 ms of endSilenceMs). */
  decisionP50: number;
}

const quantile = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function runClip(
  clip: LabelledClip,
  vad: Vad,
): Promise<{ decisions: Uint8Array; turns: EndpointEvent[] }> {
  const n = frameSamples(clip.sampleRateHz, FRAME_MS);
  const decisions = new Uint8Array(clip.labels.length);
  let f = 0;
  const ep = createEndpointer({
    sampleRateHz: clip.sampleRateHz,
    classify: (frame) => {
      const v = vad.classify(frame);
      decisions[f++] = v ? 1 : 0;
      return v;
    },
  });
  const turns: EndpointEvent[] = [];
  for (let off = 0; off + n <= clip.samples.length; off += n) {
    for (const e of ep.push(clip.samples.subarray(off, off + n))) if (e.type === 'end_of_turn') turns.push(e);
    if (vad.settled) await vad.settled();
  }
  return { decisions, turns };
}

function score(vad: string, clip: LabelledClip, decisions: Uint8Array, turns: EndpointEvent[]): Row {
  let tp = 0,
    fp = 0,
    fn = 0,
    tn = 0;
  clip.labels.forEach((l, i) => {
    const d = decisions[i] ?? 0;
    if (l && d) tp++;
    else if (l) fn++;
    else if (d) fp++;
    else tn++;
  });
  const precision = tp + fp === 0 ? NaN : tp / (tp + fp);
  const recall = tp + fn === 0 ? NaN : tp / (tp + fn);
  const ends = turns.flatMap((t) => (t.type === 'end_of_turn' ? [t] : []));
  const overlaps = (t: (typeof ends)[number], u: { startMs: number; endMs: number }): boolean =>
    t.startedAtMs < u.endMs && t.speechEndedAtMs > u.startMs;
  const falseTurns = ends.filter((t) => !clip.utterances.some((u) => overlaps(t, u))).length;
  let missed = 0,
    split = 0,
    merged = 0;
  const endErr: number[] = [];
  const decision: number[] = [];
  clip.utterances.forEach((u, i) => {
    const mine = ends.filter((t) => overlaps(t, u));
    const last = mine.at(-1);
    if (last === undefined) {
      missed++;
      return;
    }
    split += mine.length - 1;
    const next = clip.utterances[i + 1];
    if (next !== undefined && overlaps(last, next)) {
      merged++;
      return;
    }
    endErr.push(last.speechEndedAtMs - u.endMs);
    decision.push(last.atMs - u.endMs);
  });
  return {
    vad,
    rateHz: clip.sampleRateHz,
    condition: clip.condition,
    precision,
    recall,
    f1: 2 / (1 / precision + 1 / recall),
    falseAlarm: fp + tn === 0 ? NaN : fp / (fp + tn),
    utterances: clip.utterances.length,
    missed,
    split,
    merged,
    falseTurns,
    falseTurnsPerMin: falseTurns / (clip.durationMs / 60_000),
    endErrP50: quantile(endErr, 0.5),
    endErrP90: quantile(endErr, 0.9),
    decisionP50: quantile(decision, 0.5),
  };
}

/** Silero at 16 kHz on an 8 kHz call: each frame upsampled (streaming) and re-framed to 320 samples. */
function upsampled(model16: SileroModel): Vad {
  const vad = model16.createVad();
  const up = createResampler(8000, 16000);
  const framer = createFramer(16000);
  let last = false;
  return {
    classify: (frame) => {
      for (const f of framer.push(up.push(frame))) last = vad.classify(f);
      return last;
    },
    settled: () => vad.settled(),
  };
}

export interface CpuFigure {
  vad: string;
  rateHz: RateHz;
  usPerFrame: number;
  ratioVsEnergy: number;
  /** Calls one core could classify (50 frames per second each). */
  callsPerCore: number;
}

async function cpuPerFrame(clips: LabelledClip[], make: () => Vad, minMs: number): Promise<number> {
  const n = frameSamples(clips[0]?.sampleRateHz ?? 8000, FRAME_MS);
  let frames = 0;
  const t0 = process.cpuUsage();
  const w0 = performance.now();
  do {
    for (const clip of clips) {
      const vad = make();
      for (let off = 0; off + n <= clip.samples.length; off += n) {
        vad.classify(clip.samples.slice(off, off + n));
        if (vad.settled) await vad.settled();
        frames++;
      }
    }
  } while (performance.now() - w0 < minMs);
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / frames;
}

export async function benchVadFull(): Promise<{ rows: Row[]; cpu: CpuFigure[] }> {
  const m8 = await loadSileroModel({ sampleRateHz: 8000 });
  const m16 = await loadSileroModel({ sampleRateHz: 16000 });
  const contenders: Contender[] = [
    {
      name: 'energy',
      rates: [8000, 16000],
      create: () => ({ classify: energyClassifier(DEFAULT_SPEECH_THRESHOLD) }),
    },
    {
      name: 'silero',
      rates: [8000, 16000],
      create: (rate) => (rate === 8000 ? m8 : m16).createVad(),
    },
    { name: 'silero-up16', rates: [8000], create: () => upsampled(m16) },
  ];
  const rows: Row[] = [];
  const cpu: CpuFigure[] = [];
  try {
    for (const rate of [8000, 16000] as const) {
      const clips = buildVadSet(rate);
      let energyUs = NaN;
      for (const c of contenders) {
        if (!c.rates.includes(rate)) continue;
        for (const clip of clips) {
          const { decisions, turns } = await runClip(clip, c.create(rate));
          rows.push(score(c.name, clip, decisions, turns));
        }
        const us = await cpuPerFrame(clips, () => c.create(rate), 3000);
        if (c.name === 'energy') energyUs = us;
        cpu.push({
          vad: c.name,
          rateHz: rate,
          usPerFrame: us,
          ratioVsEnergy: us / energyUs,
          callsPerCore: 1e6 / (50 * us),
        });
      }
    }
  } finally {
    await m8.close();
    await m16.close();
  }
  return { rows, cpu };
}

// A type alias (not an interface) so it is assignable to Record<string, number> in bench/run.ts.
export type VadFigures = Record<string, number>;

/** The summary for `npm run bench`: speech F1 over the speech conditions, MOH/noise false turns, CPU. */
export async function benchVad(): Promise<VadFigures> {
  const { rows, cpu } = await benchVadFull();
  const out: VadFigures = {};
  for (const c of cpu) {
    const key = `${c.vad}${c.rateHz / 1000}k`;
    const mine = rows.filter((r) => r.vad === c.vad && r.rateHz === c.rateHz);
    const speech = mine.filter((r) => SPEECH_CONDITIONS.includes(r.condition as never));
    out[`${key}F1`] = speech.reduce((s, r) => s + r.f1, 0) / speech.length;
    out[`${key}FalseTurnsPerMin`] = mine
      .filter((r) => r.utterances === 0)
      .reduce((s, r) => s + r.falseTurnsPerMin, 0);
    out[`${key}UsPerFrame`] = c.usPerFrame;
  }
  return out;
}

const pct = (x: number): string => (Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`);
const ms = (x: number): string => (Number.isNaN(x) ? '-' : `${Math.round(x)}`);

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { rows, cpu } = await benchVadFull();
  const head =
    '| VAD | rate | condition | precision | recall | F1 | false alarm | turns found | split | merged | false turns (/min) | end error p50 / p90 ms | end_of_turn after end p50 ms |';
  process.stdout.write(`${head}\n|${' --- |'.repeat(13)}\n`);
  for (const r of rows) {
    const speech = r.utterances > 0;
    process.stdout.write(
      `| ${r.vad} | ${r.rateHz / 1000} kHz | ${r.condition} | ${speech ? pct(r.precision) : '-'} | ${speech ? pct(r.recall) : '-'} | ${speech ? pct(r.f1) : '-'} | ${pct(r.falseAlarm)} | ${speech ? `${r.utterances - r.missed}/${r.utterances}` : '-'} | ${r.split} | ${r.merged} | ${r.falseTurns} (${r.falseTurnsPerMin.toFixed(1)}) | ${ms(r.endErrP50)} / ${ms(r.endErrP90)} | ${ms(r.decisionP50)} |\n`,
    );
  }
  process.stdout.write(
    '\n| VAD | rate | CPU µs/frame | vs energy | calls per core |\n| --- | --- | --- | --- | --- |\n',
  );
  for (const c of cpu) {
    process.stdout.write(
      `| ${c.vad} | ${c.rateHz / 1000} kHz | ${c.usPerFrame.toFixed(2)} | ${c.ratioVsEnergy.toFixed(0)}x | ${Math.round(c.callsPerCore)} |\n`,
    );
  }
}
