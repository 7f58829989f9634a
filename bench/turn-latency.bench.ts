// Turn latency of a whole daemon against providers at fixed latencies (STT 300 ms; LLM 200 ms to its first
// chunk, then 20 ms a token; TTS 150 ms to its first byte, then the PCM at once):
// 1. the daemon's own share of turn_ms (recording ended → first reply sentence starts playing): turn_ms less
//    what the providers themselves took on the turn's critical path, by the fake's stamps, split into where
//    the rest went;
// 2. time to first audio with sentence streaming against the same daemon synthesizing the whole reply first.
// No figure here is asserted anywhere: the runner prints them, docs/PERFORMANCE.md records them.
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { encodeWav, writeWavAtomic } from '../src/audio/wav.js';
import { createSentenceChunker } from '../src/conversation/sentence-chunker.js';
import { wordTokens } from '../test/fakes/openai-replies.js';
import type { FakeRoute } from '../test/fakes/openai-server.js';
import {
  startTurnRig,
  type CallRecord,
  type Exchange,
  type ProviderLatencies,
  type ServerStamp,
} from './turn-harness.js';

const LATENCIES: ProviderLatencies = {
  sttMs: 300,
  llmFirstByteMs: 200,
  llmPerTokenMs: 20,
  ttsFirstByteMs: 150,
};
const LANGUAGE = 'pt-BR';
const TRANSCRIPT = 'Qual é o horário de funcionamento de vocês?';
/** Four sentences, 32 word tokens, the first one 5. */
const REPLY =
  'Claro, posso ajudar com isso. Nosso horário é de segunda a sexta, das oito às dezoito. ' +
  'Aos sábados abrimos das nove ao meio-dia. Quer que eu transfira para o setor de vendas?';
/** Roughly how long a TTS voice takes to say a character of Portuguese. */
const SPEECH_MS_PER_CHAR = 60;
/** Playback and recording 100× faster than real time: turn_ms ends when playback starts, so it is unaffected. */
const SPEED = 100;
/** 10 calls × 3 turns for the overhead figures (the streaming run of the comparison, too); TURN_CALLS=n. */
const STREAMING_CALLS = Number(process.env['TURN_CALLS'] ?? 10);
const WHOLE_REPLY_CALLS = 2;
const WAV_WRITES = 30;

// A type alias, not an interface: bench/run.ts treats every bench's figures as Record<string, number>.
export type TurnLatencyFigures = {
  turns: number;
  /**
   * turn_ms less what the providers took on the turn's critical path, by the fake's own stamps: STT and the
   * first sentence's TTS from request received to response written, the LLM from request received to the
   * first sentence's last token reaching the daemon.
   */
  overheadP50Ms: number;
  overheadP95Ms: number;
  overheadMaxMs: number;
  /** Of the overhead: the chunker holding the complete first sentence until the next token shows it ended. */
  lookaheadP50Ms: number;
  overheadExclLookaheadP95Ms: number;
  /** Of the overhead: TTS response written by the fake → its last byte read by the daemon (decode, resample). */
  ttsBodyReadP50Ms: number;
  /**
   * Of the overhead: requests and responses crossing HTTP: the daemon's undici, loopback, and the fake's
   * node:http reading each request (on its own thread) until its last byte.
   */
  httpP50Ms: number;
  /** Of the overhead: STT read → LLM request, sentence emitted → TTS request. */
  handoffP50Ms: number;
  /** Of the overhead: record completed (as seen on the ESL socket) → STT request (read WAV, energy check). */
  preSttP50Ms: number;
  /** Of the overhead: TTS body read → playback command on the ESL socket (WAV write and fsync, queue hop). */
  postTtsP50Ms: number;
  /**
   * The turn as FreeSWITCH sees it (record complete → first playback command) less turn_ms: what turn_ms
   * does not see (ESL parsing of the completion event, the command write). Also the overhead's unexplained
   * remainder, negated, as turn_ms is rounded to the millisecond.
   */
  eslMinusTurnMsP50Ms: number;
  /** Cross-check: turn_ms less the configured latencies alone (the fake's timer slack charged too). */
  overheadNominalP95Ms: number;
  /** Cross-check: provider time by the fake's stamps less the configured latencies (timers, PCM). */
  providerSlackP50Ms: number;
  /** A first-sentence WAV through writeWavAtomic (write, fsync, chmod, rename) in the daemon's audio dir. */
  sentenceWavWriteP50Ms: number;
  /** The same bytes written and renamed without fsync. */
  sentenceWavNoFsyncP50Ms: number;
  /** Median turn_ms, 4-sentence reply, sentence streaming. */
  firstAudioStreamingMs: number;
  /** Median turn_ms, same reply, whole reply synthesized before anything plays. */
  firstAudioWholeReplyMs: number;
  firstAudioReductionPct: number;
  /** STT + LLM to the end of the first sentence + TTS first byte, from the configured latencies. */
  firstAudioIdealMs: number;
  firstAudioGapToIdealMs: number;
};

/** One streaming turn, split along its critical path (all in ms). */
interface TurnTiming {
  turnMs: number;
  providerMs: number;
  lookaheadMs: number;
  ttsBodyReadMs: number;
  httpMs: number;
  handoffMs: number;
  preSttMs: number;
  postTtsMs: number;
  eslTurnMs: number;
  /** The turn's window on this thread's clock: record completed, first playback sent. */
  recordDoneAtMs: number;
  playbackAtMs: number;
}

/** Runs both measurements on a migrated database (with v_domains); removes its domain afterwards. */
export async function benchTurnLatency(databaseUrl: string): Promise<TurnLatencyFigures> {
  const rig = await startTurnRig(databaseUrl, {
    speed: SPEED,
    latencies: LATENCIES,
    transcript: TRANSCRIPT,
    reply: REPLY,
    speechMsPerChar: SPEECH_MS_PER_CHAR,
  });
  // Garbage collections on this (the daemon's) thread, to attribute slow turns.
  const gcs: { startMs: number; ms: number }[] = [];
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ startMs: e.startTime, ms: e.duration });
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  try {
    const streaming = await rig.withDaemon({ sentenceStreaming: true }, async (d) => {
      // Warm-up: fills the phrase cache (greeting, goodbye), JIT, connection pools. Not counted.
      await d.call('warmup');
      const calls: CallRecord[] = [];
      for (let i = 0; i < STREAMING_CALLS; i++) calls.push(await d.call('measured'));
      return calls;
    });
    const whole = await rig.withDaemon({ sentenceStreaming: false }, async (d) => {
      await d.call('warmup');
      const calls: CallRecord[] = [];
      for (let i = 0; i < WHOLE_REPLY_CALLS; i++) calls.push(await d.call('measured'));
      return calls;
    });
    const wav = await timeWavWrites(rig.audioDir);

    const timings = streaming.flatMap(streamingTurns);
    const firstSentence = REPLY.slice(0, REPLY.indexOf('.') + 1);
    const nominalMs =
      LATENCIES.sttMs +
      LATENCIES.llmFirstByteMs +
      LATENCIES.llmPerTokenMs * wordTokens(firstSentence).length +
      LATENCIES.ttsFirstByteMs;
    const overhead = timings.map((t) => t.turnMs - t.providerMs);
    if (process.env['TURN_TRACE']) printTrace(timings, gcs);
    const of = (f: (t: TurnTiming) => number): number[] => timings.map(f);
    const streamingMs = median(of((t) => t.turnMs));
    const wholeMs = median(whole.flatMap((c) => c.turns.map((t) => t.turnMs)));
    return {
      turns: timings.length,
      overheadP50Ms: quantile(overhead, 0.5),
      overheadP95Ms: quantile(overhead, 0.95),
      overheadMaxMs: Math.max(...overhead),
      lookaheadP50Ms: median(of((t) => t.lookaheadMs)),
      overheadExclLookaheadP95Ms: quantile(
        of((t) => t.turnMs - t.providerMs - t.lookaheadMs),
        0.95,
      ),
      ttsBodyReadP50Ms: median(of((t) => t.ttsBodyReadMs)),
      httpP50Ms: median(of((t) => t.httpMs)),
      handoffP50Ms: median(of((t) => t.handoffMs)),
      preSttP50Ms: median(of((t) => t.preSttMs)),
      postTtsP50Ms: median(of((t) => t.postTtsMs)),
      eslMinusTurnMsP50Ms: median(of((t) => t.eslTurnMs - t.turnMs)),
      overheadNominalP95Ms: quantile(
        of((t) => t.turnMs - nominalMs),
        0.95,
      ),
      providerSlackP50Ms: median(of((t) => t.providerMs - nominalMs)),
      sentenceWavWriteP50Ms: wav.atomicP50Ms,
      sentenceWavNoFsyncP50Ms: wav.noFsyncP50Ms,
      firstAudioStreamingMs: streamingMs,
      firstAudioWholeReplyMs: wholeMs,
      firstAudioReductionPct: (1 - streamingMs / wholeMs) * 100,
      firstAudioIdealMs: nominalMs,
      firstAudioGapToIdealMs: streamingMs - nominalMs,
    };
  } finally {
    gcObserver.disconnect();
    await rig.close();
  }
}

/**
 * TURN_TRACE=1: one line per streaming turn with its split and the GC pause time inside its window (record
 * completed → first playback), on stderr: what makes a slow turn slow.
 */
function printTrace(timings: readonly TurnTiming[], gcs: readonly { startMs: number; ms: number }[]): void {
  for (const t of timings) {
    const gcMs = gcs
      .filter((g) => g.startMs < t.playbackAtMs && g.startMs + g.ms > t.recordDoneAtMs)
      .reduce((sum, g) => sum + g.ms, 0);
    const fields: Record<string, number> = { overhead: t.turnMs - t.providerMs, gcMs };
    for (const [k, v] of Object.entries(t) as [string, number][]) if (!k.endsWith('AtMs')) fields[k] = v;
    console.error(
      Object.entries(fields)
        .map(([k, v]) => `${k}=${v.toFixed(1)}`)
        .join(' '),
    );
  }
}

/**
 * Each turn of a streaming call with the provider exchanges on its critical path: the turn's transcription,
 * the chat request after it, and the first speech request after that (the first sentence). Calls run one
 * at a time and the warm-up cached the phrases, so nothing else is in flight; the fake's stamps pair with
 * the daemon's exchanges in order, route by route.
 */
function streamingTurns(call: CallRecord): TurnTiming[] {
  const pairs = (route: FakeRoute): { ex: Exchange; fake: ServerStamp }[] => {
    const exs = call.exchanges.filter((e) => e.route === route);
    const fakes = call.stamps.filter((s) => s.route === route);
    if (exs.length !== fakes.length) throw new Error(`turn bench: ${route} requests and stamps differ`);
    return exs.map((ex, i) => ({ ex, fake: fakes[i] as ServerStamp }));
  };
  const [stts, chats, speeches] = [pairs('transcriptions'), pairs('chat'), pairs('speech')];
  if (stts.length !== call.turns.length) {
    throw new Error(`turn bench: ${stts.length} transcriptions for ${call.turns.length} turns`);
  }
  return call.turns.map(({ turn, turnMs }, i) => {
    const stt = stts[i];
    const chat = chats.find((c) => stt !== undefined && c.ex.startMs >= ended(stt.ex));
    const tts = speeches.find((s) => chat !== undefined && s.ex.startMs >= chat.ex.startMs);
    if (!stt || !chat || !tts) throw new Error(`turn bench: turn ${turn} is missing a provider exchange`);
    const recordDoneMs = call.esl.recordDoneMs.filter((t) => t <= stt.ex.startMs).pop();
    const playbackMs = call.esl.firstPlaybackMs[turn];
    if (recordDoneMs === undefined || playbackMs === undefined) {
      throw new Error(`turn bench: turn ${turn} has no record completion or playback on the ESL socket`);
    }
    const { completeMs, readyMs } = firstSentenceTimes(chat.ex);
    const sttMs = closed(stt.fake) - stt.fake.receivedMs;
    const llmMs = completeMs - chat.fake.receivedMs;
    const ttsMs = closed(tts.fake) - tts.fake.receivedMs;
    return {
      turnMs,
      providerMs: sttMs + llmMs + ttsMs,
      lookaheadMs: readyMs - completeMs,
      ttsBodyReadMs: ended(tts.ex) - closed(tts.fake),
      httpMs:
        stt.fake.receivedMs -
        stt.ex.startMs +
        (ended(stt.ex) - closed(stt.fake)) +
        (chat.fake.receivedMs - chat.ex.startMs) +
        (tts.fake.receivedMs - tts.ex.startMs),
      handoffMs: chat.ex.startMs - ended(stt.ex) + (tts.ex.startMs - readyMs),
      preSttMs: stt.ex.startMs - recordDoneMs,
      postTtsMs: playbackMs - ended(tts.ex),
      eslTurnMs: playbackMs - recordDoneMs,
      recordDoneAtMs: recordDoneMs,
      playbackAtMs: playbackMs,
    };
  });
}

/**
 * When the first sentence's last token reached the daemon (`completeMs`), and when the daemon's chunker could
 * emit it (`readyMs`): replays the chat body through the same chunker, delta by delta, as the daemon does.
 */
function firstSentenceTimes(chat: Exchange): { completeMs: number; readyMs: number } {
  const chunker = createSentenceChunker({ language: LANGUAGE });
  const arrivals: { atMs: number; contentChars: number }[] = [];
  let sse = '';
  let content = '';
  let first: { text: string; readyMs: number } | undefined;
  for (const chunk of chat.chunks) {
    sse += chunk.text ?? '';
    for (let cut = sse.indexOf('\n\n'); cut >= 0; cut = sse.indexOf('\n\n')) {
      const data = sse.slice(0, cut).replace(/^data: /, '');
      sse = sse.slice(cut + 2);
      if (data === '[DONE]') continue;
      const parsed = JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] };
      const delta = parsed.choices?.[0]?.delta?.content;
      if (typeof delta !== 'string' || delta === '') continue;
      content += delta;
      const out = first === undefined ? chunker.push(delta) : [];
      if (out[0] !== undefined) first = { text: out[0], readyMs: chunk.atMs };
    }
    arrivals.push({ atMs: chunk.atMs, contentChars: content.length });
  }
  if (first === undefined) throw new Error('turn bench: the reply has a single sentence');
  const end = content.indexOf(first.text) + first.text.length;
  const complete = arrivals.find((a) => a.contentChars >= end);
  if (content.indexOf(first.text) < 0 || !complete) {
    throw new Error('turn bench: first sentence not in reply');
  }
  return { completeMs: complete.atMs, readyMs: first.readyMs };
}

/** writeWavAtomic of a first-sentence-sized WAV where the daemon writes them, and the same without fsync. */
async function timeWavWrites(audioDir: string): Promise<{ atomicP50Ms: number; noFsyncP50Ms: number }> {
  const dir = await mkdtemp(path.join(audioDir, 'wav-'));
  try {
    const firstSentence = REPLY.slice(0, REPLY.indexOf('.') + 1);
    const samples = new Int16Array(Math.round(firstSentence.length * SPEECH_MS_PER_CHAR * 8));
    for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8000 * Math.sin(i / 3));
    const atomic: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < WAV_WRITES; i++) {
      let t0 = performance.now();
      await writeWavAtomic(path.join(dir, `atomic-${i}.wav`), samples, 8000);
      atomic.push(performance.now() - t0);
      t0 = performance.now();
      const tmp = path.join(dir, `.plain-${i}.tmp`);
      const fh = await open(tmp, 'wx', 0o640);
      await fh.writeFile(encodeWav(samples, 8000));
      await fh.close();
      await rename(tmp, path.join(dir, `plain-${i}.wav`));
      plain.push(performance.now() - t0);
    }
    return { atomicP50Ms: median(atomic), noFsyncP50Ms: median(plain) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function ended(e: Exchange): number {
  if (e.endMs === undefined) throw new Error(`turn bench: ${e.route} body never ended`);
  return e.endMs;
}

function closed(s: ServerStamp): number {
  if (s.closedMs === undefined) throw new Error(`turn bench: fake ${s.route} exchange never closed`);
  return s.closedMs;
}

function median(xs: readonly number[]): number {
  return quantile(xs, 0.5);
}

/** Nearest-rank quantile. */
function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) throw new Error('turn bench: no samples');
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN;
}
