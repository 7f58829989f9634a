/**
 * A whole daemon (startDaemon) against the fake FreeSWITCH and a fake OpenAI, set up for timing turns. The
 * same ideas as test/e2e/call-harness.ts, without vitest (that harness reads the database URL through
 * vitest's `inject`), and with the fakes in a worker thread: in production FreeSWITCH and the providers are
 * other processes, and work of theirs on the daemon's event loop would be charged to the daemon.
 *
 * Stamped along the way, all on this thread's performance.now() timeline:
 * - by a fetch probe, each provider request on the daemon's side of the HTTP boundary;
 * - by the fake OpenAI, when it had read each request and when it had written the whole response;
 * - on the ESL socket, by a relay on the FreeSWITCH side: when each `record` completed and when each reply's
 *   first file was sent to `playback`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Worker, parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import postgres from 'postgres';
import { parseWav } from '../src/audio/wav.js';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/main.js';
import type { FetchFn } from '../src/providers/transport/http.js';
import { createProvidersRepo } from '../src/store/repos/providers.js';
import { createSecretariesRepo } from '../src/store/repos/secretaries.js';
import { startFakeFreeSwitch, type CallerStep } from '../test/fakes/fake-freeswitch/index.js';
import { startFakeOpenAi, tone, type CapturedRequest, type FakeRoute } from '../test/fakes/openai-server.js';

const API_KEY = 'sk-bench-FAKEKEY0123456789abcdef';
const ENCRYPTION_KEY = 'bench-turn-key-0123456789abcdef';
/** 3.7 s: 1.0 s of digital silence, then "I would like to speak to sales please" (speech 1.00-3.30 s). */
const SALES_8K = path.resolve(import.meta.dirname, '../test/fixtures/audio/fake-fs-sales-8k.wav');
const MEASURED_TURNS = 3;

/** Fixed provider latencies, as the fake OpenAI applies them. */
export interface ProviderLatencies {
  sttMs: number;
  /** Until the chat stream's first chunk (the role delta); each content token then follows after perTokenMs. */
  llmFirstByteMs: number;
  llmPerTokenMs: number;
  /** Until the speech body's first byte; the PCM then goes out back to back (perChunkMs 0). */
  ttsFirstByteMs: number;
}

export interface FakesConfig {
  /** Fake FreeSWITCH time scale: playback and recording run this many times faster than real time. */
  speed: number;
  latencies: ProviderLatencies;
  /** What the caller is heard to say, every turn. */
  transcript: string;
  /** What the secretary answers, every turn. */
  reply: string;
  /** Length of the synthesized audio per character of text. */
  speechMsPerChar: number;
}

/** One provider request as the daemon saw it. */
export interface Exchange {
  route: FakeRoute | 'other';
  /** The daemon called fetch. */
  startMs: number;
  /** Each body chunk as it reached the daemon; `text` only for chat (SSE). */
  chunks: { atMs: number; bytes: number; text?: string }[];
  /** The body's last byte reached the daemon (never set when the daemon stops reading early). */
  endMs: number | undefined;
}

/** One request as the fake OpenAI saw it: its body's last byte read, response written (or client gone). */
export interface ServerStamp {
  route: FakeRoute;
  /** The request's last byte was read (before the fake parses it: parsing is the provider's time). */
  receivedMs: number;
  closedMs: number | undefined;
}

/** Seen on the call's ESL socket from the FreeSWITCH side. */
export interface EslStamps {
  recordDoneMs: number[];
  /** By turn: the sendmsg playing `turn-N-0.wav`. */
  firstPlaybackMs: Record<number, number>;
}

/** A finished call: its secretary turns with turn_ms (from v_voice_messages) and what was stamped. */
export interface CallRecord {
  turns: { turn: number; turnMs: number }[];
  exchanges: Exchange[];
  stamps: ServerStamp[];
  esl: EslStamps;
}

export interface RunningDaemon {
  /** Places one call and waits for its rows. `warmup`: one turn; `measured`: three. */
  call(kind: 'warmup' | 'measured'): Promise<CallRecord>;
}

export interface TurnRig {
  readonly audioDir: string;
  /** Starts a daemon for `fn` and stops it afterwards. */
  withDaemon<T>(opts: { sentenceStreaming: boolean }, fn: (d: RunningDaemon) => Promise<T>): Promise<T>;
  /** Stops the fakes, deletes the rig's domain (and with it every row the calls wrote) and its directories. */
  close(): Promise<void>;
}

/**
 * A fetch that stamps when each request started and when each body chunk arrived. The body goes through a
 * pass-through TransformStream: a few microtasks per chunk, charged to the daemon.
 */
export function createFetchProbe(): { fetch: FetchFn; exchanges: readonly Exchange[] } {
  const exchanges: Exchange[] = [];
  const probe: FetchFn = async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const ex: Exchange = { route: routeOf(url), startMs: performance.now(), chunks: [], endMs: undefined };
    exchanges.push(ex);
    const res = await globalThis.fetch(input, init);
    if (res.body === null) {
      ex.endMs = performance.now();
      return res;
    }
    const decoder = ex.route === 'chat' ? new TextDecoder() : undefined;
    const tap = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        const atMs = performance.now();
        const bytes = chunk.byteLength;
        const text = decoder?.decode(chunk, { stream: true });
        ex.chunks.push(text === undefined ? { atMs, bytes } : { atMs, bytes, text });
        ctl.enqueue(chunk);
      },
      flush() {
        ex.endMs = performance.now();
      },
    });
    const { status, statusText, headers } = res;
    return new Response(res.body.pipeThrough(tap), { status, statusText, headers });
  };
  return { fetch: probe, exchanges };
}

function routeOf(url: string): Exchange['route'] {
  if (url.endsWith('/chat/completions')) return 'chat';
  if (url.endsWith('/audio/transcriptions')) return 'transcriptions';
  if (url.endsWith('/audio/speech')) return 'speech';
  return 'other';
}

/** Creates the rig's domain, providers and secretaries in `databaseUrl`, and starts the fakes. */
export async function startTurnRig(databaseUrl: string, fakesConfig: FakesConfig): Promise<TurnRig> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => undefined });
  const domainUuid = randomUUID();
  const domainName = `bench-${domainUuid.slice(0, 8)}.invalid`;
  const cleanups: (() => Promise<unknown>)[] = [() => sql.end()];
  const close = async (): Promise<void> => {
    for (const c of cleanups.splice(0).reverse()) await c();
  };
  try {
    const fakes = await startFakesWorker(fakesConfig);
    cleanups.push(() => fakes.close());
    await sql`
      INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled, insert_date)
      VALUES (${domainUuid}, ${domainName}, true, now())`;
    cleanups.push(() => sql`DELETE FROM v_domains WHERE domain_uuid = ${domainUuid}`);
    const audioDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-bench-audio-'));
    cleanups.push(() => rm(audioDir, { recursive: true, force: true }));
    const spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-bench-spool-'));
    cleanups.push(() => rm(spoolDir, { recursive: true, force: true }));

    const providers = createProvidersRepo(sql);
    const provider = (type: 'stt' | 'llm' | 'tts', model: string) =>
      providers.create(
        domainUuid,
        {
          provider_type: type,
          provider_name: 'openai',
          config: { base_url: fakes.baseUrl, model },
          secrets: { api_key: API_KEY },
          is_default: true,
          priority: 100,
        },
        ENCRYPTION_KEY,
      );
    const stt = await provider('stt', 'whisper-1');
    const llm = await provider('llm', 'gpt-4o-mini');
    const tts = await provider('tts', 'tts-1');
    const extensions = { warmup: '8001', measured: '8000' } as const;
    for (const kind of ['warmup', 'measured'] as const) {
      await createSecretariesRepo(sql).create(domainUuid, {
        name: 'Ana',
        extension: extensions[kind],
        greeting: 'Olá, aqui é a Ana.',
        farewell: 'Até logo!',
        language: 'pt-BR',
        stt_provider_uuid: stt.provider_uuid,
        llm_provider_uuid: llm.provider_uuid,
        tts_provider_uuid: tts.provider_uuid,
        silence_seconds: 1,
        record_max_seconds: 10,
        // The call ends after its last turn on max_turns (no operator: "goodbye" and hang up), so every turn
        // gets the same reply: an end_call tool call would lengthen the last one.
        max_turns: kind === 'warmup' ? 1 : MEASURED_TURNS,
      });
    }

    const probe = createFetchProbe();
    const config = loadConfig({
      DATABASE_URL: databaseUrl,
      VOICE_AI_ENCRYPTION_KEY: ENCRYPTION_KEY,
      VOICE_AI_ESL_PORT: String(fakes.inboundPort),
      VOICE_AI_OUTBOUND_PORT: '0',
      VOICE_AI_HTTP_PORT: '0',
      VOICE_AI_AUDIO_DIR: audioDir,
      VOICE_AI_SPOOL_DIR: spoolDir,
      VOICE_AI_DB_POOL_MAX: '5',
    });

    const placeCall = async (daemonPort: number, kind: 'warmup' | 'measured'): Promise<CallRecord> => {
      const turns = kind === 'warmup' ? 1 : MEASURED_TURNS;
      const firstExchange = probe.exchanges.length;
      const ended = await fakes.call({
        daemonPort,
        domainUuid,
        domainName,
        extension: extensions[kind],
        turns,
      });
      if (ended.violations.length > 0) throw new Error(`turn bench: ${ended.violations.join('; ')}`);
      const conv = await endedConversation(sql, ended.uuid);
      if (conv.resolution !== 'max_turns' || conv.total_turns !== turns) {
        throw new Error(`turn bench: call ended ${conv.resolution} after ${conv.total_turns} turns`);
      }
      const rows = await sql<{ turn: number; turn_ms: number | null }[]>`
        SELECT turn, turn_ms FROM v_voice_messages
        WHERE conversation_uuid = ${conv.conversation_uuid} AND role = 'assistant' AND turn > 0
        ORDER BY seq`;
      return {
        turns: rows.map((r) => {
          if (r.turn_ms === null) throw new Error(`turn bench: turn ${r.turn} has no turn_ms`);
          return { turn: r.turn, turnMs: r.turn_ms };
        }),
        exchanges: probe.exchanges.slice(firstExchange),
        stamps: ended.stamps,
        esl: ended.esl,
      };
    };

    return {
      audioDir,
      async withDaemon(o, fn) {
        const daemon = await startDaemon(config, {
          log: pino({ level: 'silent' }),
          fetch: probe.fetch,
          // Never "one moment": the whole-reply baseline waits well over a second for its first audio.
          fillerAfterMs: 60_000,
          sentenceStreaming: o.sentenceStreaming,
        });
        try {
          return await fn({ call: (kind) => placeCall(daemon.outboundPort, kind) });
        } finally {
          await daemon.stop({ graceMs: 2000 });
        }
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

async function endedConversation(
  sql: postgres.Sql,
  callUuid: string,
): Promise<{ conversation_uuid: string; resolution: string | null; total_turns: number }> {
  // The write queue is asynchronous: the end row lands a little after the call.
  for (let i = 0; i < 400; i++) {
    const rows = await sql<{ conversation_uuid: string; resolution: string | null; total_turns: number }[]>`
      SELECT conversation_uuid, resolution, total_turns FROM v_voice_conversations
      WHERE call_uuid = ${callUuid} AND ended_at IS NOT NULL`;
    if (rows[0]) return rows[0];
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`turn bench: no ended conversation for call ${callUuid}`);
}

// ---- The fakes' thread: it stamps on this thread's timeline, whose origin it is given. ----

interface CallRequest {
  daemonPort: number;
  domainUuid: string;
  domainName: string;
  extension: string;
  turns: number;
}
interface CallEnded {
  uuid: string;
  violations: string[];
  stamps: ServerStamp[];
  esl: EslStamps;
}
type ToFakes = ({ type: 'call' } & CallRequest) | { type: 'close' };
type FromFakes =
  | { type: 'ready'; inboundPort: number; baseUrl: string }
  | { type: 'ended'; ended: CallEnded }
  | { type: 'failed'; message: string }
  | { type: 'closed' };

async function startFakesWorker(cfg: FakesConfig): Promise<{
  inboundPort: number;
  baseUrl: string;
  /** One call at a time. */
  call(req: CallRequest): Promise<CallEnded>;
  close(): Promise<void>;
}> {
  // The worker has no TypeScript loader of its own: register tsx there, then run this module's runFakes.
  const api = import.meta.resolve('tsx/esm/api');
  const entry = `import { register } from ${JSON.stringify(api)}; register();
    const m = await import(${JSON.stringify(import.meta.url)}); await m.runFakes();`;
  const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(entry)}`), {
    workerData: { ...cfg, originMs: performance.timeOrigin } satisfies WorkerConfig,
  });
  let waiter: { resolve: (m: FromFakes) => void; reject: (err: Error) => void } | undefined;
  const next = (send?: ToFakes): Promise<FromFakes> =>
    new Promise((resolve, reject) => {
      waiter = { resolve, reject };
      if (send) worker.postMessage(send);
    });
  worker.on('message', (m: FromFakes) => waiter?.resolve(m));
  worker.on('error', (err) => waiter?.reject(err));
  const ready = await next();
  if (ready.type !== 'ready') throw new Error(`turn bench: fakes sent ${ready.type} before ready`);
  return {
    inboundPort: ready.inboundPort,
    baseUrl: ready.baseUrl,
    async call(req) {
      const m = await next({ type: 'call', ...req });
      if (m.type === 'ended') return m.ended;
      throw new Error(m.type === 'failed' ? m.message : `turn bench: fakes sent ${m.type}`);
    },
    async close() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise((r) => (timer = setTimeout(r, 5000)));
      await Promise.race([next({ type: 'close' }), timeout]).finally(() => clearTimeout(timer));
      await worker.terminate();
    },
  };
}

type WorkerConfig = FakesConfig & { originMs: number };

/** The worker's side: fake FreeSWITCH, fake OpenAI at fixed latencies, and the ESL relay. */
export async function runFakes(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('runFakes runs in a worker');
  const cfg = workerData as WorkerConfig;
  const lat = cfg.latencies;
  const now = (): number => performance.timeOrigin + performance.now() - cfg.originMs;
  const fs = await startFakeFreeSwitch({ speed: cfg.speed });
  const ai = await startFakeOpenAi({ apiKey: API_KEY });
  const stamps: ServerStamp[] = [];
  const stamp = (route: FakeRoute, req: CapturedRequest): void => {
    const receivedMs = performance.timeOrigin + req.receivedAt - cfg.originMs;
    const s: ServerStamp = { route, receivedMs, closedMs: undefined };
    stamps.push(s);
    void req.closed.then(() => (s.closedMs = now()));
  };
  // Tones are made once per text, so the fake spends no time on them inside a timed exchange.
  const tones = new Map<string, Int16Array>();
  ai.on('transcriptions', (req) => {
    stamp('transcriptions', req);
    return { type: 'transcription', text: cfg.transcript, latency: { firstByteMs: lat.sttMs } };
  });
  ai.on('chat', (req) => {
    stamp('chat', req);
    const latency = { firstByteMs: lat.llmFirstByteMs, perChunkMs: lat.llmPerTokenMs };
    return { type: 'chat', text: cfg.reply, latency };
  });
  ai.on('speech', (req) => {
    stamp('speech', req);
    const raw = (req.body as { input?: unknown } | undefined)?.input;
    const input = typeof raw === 'string' ? raw : '';
    let samples = tones.get(input);
    if (samples === undefined) {
      samples = tone(Math.max(200, input.length * cfg.speechMsPerChar));
      tones.set(input, samples);
    }
    return { type: 'speech', samples, latency: { firstByteMs: lat.ttsFirstByteMs, perChunkMs: 0 } };
  });
  const relay = await startEslRelay(now);
  const wav = parseWav(readFileSync(SALES_8K));
  // The sales sentence without its leading second of silence, then enough silence to end the recording.
  const utterance: CallerStep[] = [
    {
      type: 'speak',
      pcm: wav.samples.subarray(Math.round(0.9 * wav.sampleRateHz)),
      sampleRateHz: wav.sampleRateHz,
    },
    { type: 'silence', ms: 1200 },
  ];

  const send = (m: FromFakes): void => port.postMessage(m);
  const placeCall = async (req: CallRequest): Promise<void> => {
    const firstStamp = stamps.length;
    const esl = relay.next(req.daemonPort);
    const call = fs.placeCall({
      target: { host: '127.0.0.1', port: relay.port },
      domainUuid: req.domainUuid,
      domainName: req.domainName,
      destinationNumber: req.extension,
      callerIdNumber: '5511999990000',
      script: Array.from({ length: req.turns }, () => utterance).flat(),
    });
    await call.ended;
    const ended = {
      uuid: call.uuid,
      violations: [...call.violations],
      stamps: stamps.slice(firstStamp),
      esl,
    };
    send({ type: 'ended', ended });
  };
  port.on('message', (m: ToFakes) => {
    if (m.type === 'call') {
      placeCall(m).catch((err: unknown) => send({ type: 'failed', message: String(err) }));
    } else {
      void Promise.allSettled([relay.close(), fs.stop(), ai.close()]).then(() => send({ type: 'closed' }));
    }
  });
  send({ type: 'ready', inboundPort: fs.inboundPort, baseUrl: ai.baseUrl });
}

/**
 * A TCP relay between the fake FreeSWITCH and the daemon's outbound server that forwards every byte at once
 * and stamps record completions (CHANNEL_EXECUTE_COMPLETE for `record`, read off the event
 * frames) and each turn's first playback command (a sendmsg for `turn-N-0.wav`).
 */
async function startEslRelay(now: () => number): Promise<{
  port: number;
  /** Where the next connection goes, and the stamps it will collect. */
  next(daemonPort: number): EslStamps;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let target = { daemonPort: 0, stamps: { recordDoneMs: [], firstPlaybackMs: {} } as EslStamps };
  // No Nagle on either leg, as on FreeSWITCH's and the daemon's own ESL sockets.
  const server = createServer({ noDelay: true }, (fromFs) => {
    const { stamps } = target;
    const toDaemon = connect({ port: target.daemonPort, host: '127.0.0.1', noDelay: true });
    for (const [s, other] of [
      [fromFs, toDaemon],
      [toDaemon, fromFs],
    ] as const) {
      sockets.add(s);
      s.on('end', () => other.end());
      s.on('error', () => other.destroy());
      s.on('close', () => sockets.delete(s));
    }
    let events = Buffer.alloc(0);
    fromFs.on('data', (chunk: Buffer) => {
      const atMs = now();
      toDaemon.write(chunk);
      events = Buffer.concat([events, chunk]);
      for (;;) {
        const headEnd = events.indexOf('\n\n');
        if (headEnd < 0) break;
        const length = Number(/Content-Length: (\d+)/i.exec(events.toString('latin1', 0, headEnd))?.[1] ?? 0);
        if (events.length < headEnd + 2 + length) break;
        const body = events.toString('latin1', headEnd + 2, headEnd + 2 + length);
        events = events.subarray(headEnd + 2 + length);
        if (
          body.includes('Event-Name: CHANNEL_EXECUTE_COMPLETE\n') &&
          body.includes('\nApplication: record\n')
        ) {
          stamps.recordDoneMs.push(atMs);
        }
      }
    });
    toDaemon.on('data', (chunk: Buffer) => {
      const atMs = now();
      fromFs.write(chunk);
      const m = /execute-app-name: playback\nexecute-app-arg: \S*turn-(\d+)-0\.wav\n/.exec(
        chunk.toString('latin1'),
      );
      if (m?.[1] !== undefined) stamps.firstPlaybackMs[Number(m[1])] = atMs;
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    next(daemonPort) {
      target = { daemonPort, stamps: { recordDoneMs: [], firstPlaybackMs: {} } };
      return target.stamps;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
