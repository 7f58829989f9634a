/**
 * A real WebSocket server on 127.0.0.1 (port 0) speaking Deepgram's live STT (/v1/listen) and Flux
 * (/v2/listen) the way providers.md §4.1 and §4.3 describe them. The upgrade is refused with 401 and
 * Deepgram's `{"err_code","err_msg"}` body (plus dg-error / dg-request-id headers) for a wrong
 * `Authorization: Token KEY`, with 400 for a query it would not accept, and with any scripted status
 * (`refuseNext`). Binary frames are audio; text frames are JSON controls. Live: CloseStream gets a Metadata
 * message and a 1000 close; 10 s (configurable) with neither audio nor KeepAlive gets a 1011 close
 * (NET-0001). Flux: the models, encodings, rates and threshold ranges of §4.3 checked on the upgrade,
 * `Connected` on open, a `sequence_id` on every message, a close after an `Error`, CloseStream gets a 1000
 * close; no KeepAlive (the v2 socket has none) and no idle close (none is documented).
 * What the server sends is scripted per connection, each step after some audio, a control message or a delay:
 *
 *   dg.script({ send: results({ transcript: 'olá', isFinal: true }), afterBytes: 3200 }, { drop: true });
 *
 * Deliberate deviation: the 401 body echoes the key it was given, to prove the client scrubs it.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ProviderRow, SttEvent } from '../../src/providers/types.js';

export const FAKE_DEEPGRAM_KEY = '3f9c0d2e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d';

/** When a step fires: all of these hold (each counted from the moment the step became current). */
interface Trigger {
  /** Total audio bytes received on the connection. */
  afterBytes?: number;
  /** A control message of this type received: the k-th step naming a type waits for its k-th arrival. */
  onControl?: string;
  /** Then wait this long. */
  afterMs?: number;
}

export type Step = Trigger &
  (
    | { send: Record<string, unknown> }
    /** Destroys the TCP connection without a close frame (the client sees 1006). */
    | { drop: true }
    | { close: number; reason?: string }
  );

export interface DeepgramConnection {
  /** '/v1/listen' or '/v2/listen'. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Audio bytes in arrival order, concatenated. */
  readonly audio: Buffer;
  /** JSON control messages in arrival order. */
  controls: Record<string, unknown>[];
  /** Everything received in order: 'audio' per binary frame, else the control's type. */
  log: string[];
  /** Resolves with the close code the server saw (1000 clean, 1006 dropped), whoever closed. */
  closed: Promise<{ code: number; reason: string }>;
  /** Resolves when a control of `type` has arrived (at once if one already has). */
  control(type: string): Promise<Record<string, unknown>>;
  /** Resolves once at least `bytes` of audio have arrived. */
  audioBytes(bytes: number): Promise<void>;
}

export interface FakeDeepgram {
  /** `http://127.0.0.1:PORT`: the base_url a row uses (the adapter turns it into ws://). */
  readonly baseUrl: string;
  readonly connections: readonly DeepgramConnection[];
  /** Upgrades refused (wrong key, bad query, refuseNext). */
  readonly refused: number;
  /** The script of the next connection, in order; without one the server only answers controls. */
  script(...steps: Step[]): void;
  /** Refuses the next upgrade with `status` and Deepgram's error body. */
  refuseNext(status: number, errCode: string, errMsg: string, headers?: Record<string, string>): void;
  /** The next connection accepted from now on. */
  connection(): Promise<DeepgramConnection>;
  close(): Promise<void>;
}

export function results(r: {
  transcript: string;
  isFinal?: boolean;
  speechFinal?: boolean;
  start?: number;
  duration?: number;
  fromFinalize?: boolean;
}): Record<string, unknown> {
  return {
    type: 'Results',
    channel_index: [0, 1],
    duration: r.duration ?? 1,
    start: r.start ?? 0,
    is_final: r.isFinal ?? false,
    speech_final: r.speechFinal ?? false,
    channel: {
      alternatives: [
        {
          transcript: r.transcript,
          confidence: 0.98,
          words: r.transcript
            .split(' ')
            .filter((w) => w !== '')
            .map((w) => ({ word: w.toLowerCase(), start: 0, end: 0, confidence: 0.98, punctuated_word: w })),
        },
      ],
    },
    metadata: {
      request_id: 'fake',
      model_info: { name: 'fake', version: '0', arch: 'fake' },
      model_uuid: 'fake',
    },
    from_finalize: r.fromFinalize ?? false,
  };
}

export const speechStarted = (timestamp: number): Record<string, unknown> => ({
  type: 'SpeechStarted',
  channel: [0, 1],
  timestamp,
});

export const utteranceEnd = (lastWordEnd: number): Record<string, unknown> => ({
  type: 'UtteranceEnd',
  channel: [0, 1],
  last_word_end: lastWordEnd,
});

export function turnInfo(
  event: 'StartOfTurn' | 'Update' | 'EagerEndOfTurn' | 'TurnResumed' | 'EndOfTurn',
  t: {
    transcript?: string;
    turnIndex?: number;
    start?: number;
    end?: number;
    trigger?: 'model' | 'manual' | 'timeout';
  } = {},
): Record<string, unknown> {
  const transcript = t.transcript ?? '';
  return {
    type: 'TurnInfo',
    request_id: 'fake',
    event,
    turn_index: t.turnIndex ?? 0,
    audio_window_start: t.start ?? 0,
    audio_window_end: t.end ?? 0,
    transcript,
    words: transcript
      .split(' ')
      .filter((w) => w !== '')
      .map((word) => ({ word, confidence: 0.97 })),
    end_of_turn_confidence: event === 'EndOfTurn' ? 0.91 : 0.1,
    ...(event === 'EndOfTurn' ? { trigger: t.trigger ?? 'model' } : {}),
    languages: ['pt'],
  };
}

/** Flux's fatal error message; the fake closes the stream after sending it. */
export const fluxError = (code: string, description: string): Record<string, unknown> => ({
  type: 'Error',
  code,
  description,
});

const LIVE_ENCODINGS = new Set(['linear16', 'mulaw', 'alaw']);
const FLUX_ENCODINGS = new Set(['linear16', 'linear32', 'mulaw', 'alaw', 'opus', 'ogg-opus']);
const FLUX_RATES = new Set(['8000', '16000', '24000', '44100', '48000']);
const FLUX_MODELS = new Set(['flux-general-en', 'flux-general-multi']);
/** Flux's numeric query parameters and the ranges it accepts (reference §4.3). */
const FLUX_RANGES: Record<string, { min: number; max: number; integer?: true }> = {
  eot_threshold: { min: 0.5, max: 1 },
  eager_eot_threshold: { min: 0.3, max: 0.9 },
  eot_timeout_ms: { min: 500, max: 60_000, integer: true },
};

/** What Deepgram would refuse with 400 (a subset: the parameters our adapters send). */
function queryProblem(path: string, q: URLSearchParams): string | undefined {
  const model = q.get('model') ?? '';
  const encoding = q.get('encoding');
  const rate = q.get('sample_rate');
  if (path === '/v1/listen') {
    if (model.startsWith('flux')) return 'Flux models are served on /v2/listen';
    if (encoding !== null && !LIVE_ENCODINGS.has(encoding)) return `unknown encoding ${encoding}`;
    if (encoding !== null && (rate === null || !/^\d+$/.test(rate))) return 'raw audio needs sample_rate';
    if (encoding !== null && q.get('channels') !== '1') return 'raw audio needs channels';
    if (q.has('utterance_end_ms') && q.get('interim_results') !== 'true') {
      return 'utterance_end_ms needs interim_results=true';
    }
    return undefined;
  }
  if (!FLUX_MODELS.has(model)) return `model ${model} is not served on /v2/listen`;
  if (encoding !== null && !FLUX_ENCODINGS.has(encoding)) return `unknown encoding ${encoding}`;
  if (encoding !== null && (rate === null || !FLUX_RATES.has(rate))) return `bad sample_rate ${rate ?? ''}`;
  for (const [key, range] of Object.entries(FLUX_RANGES)) {
    const v = q.get(key);
    if (v === null) continue;
    const n = Number(v);
    if (
      v === '' ||
      !Number.isFinite(n) ||
      n < range.min ||
      n > range.max ||
      (range.integer && !Number.isInteger(n))
    ) {
      return `${key} must be from ${range.min} to ${range.max}`;
    }
  }
  if (q.has('language_hint') && model !== 'flux-general-multi')
    return 'language_hint needs flux-general-multi';
  return undefined;
}

export async function startFakeDeepgram(
  opts: { apiKey?: string; idleCloseMs?: number } = {},
): Promise<FakeDeepgram> {
  const apiKey = opts.apiKey ?? FAKE_DEEPGRAM_KEY;
  const connections: DeepgramConnection[] = [];
  const scripts: Step[][] = [];
  const refusals: { status: number; body: string; headers: Record<string, string> }[] = [];
  const connWaiters: ((c: DeepgramConnection) => void)[] = [];
  const sockets = new Set<Socket>();
  let refused = 0;

  const http = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'application/json' });
    res.end('{"err_code":"Bad Request","err_msg":"WebSocket upgrade required"}');
  });
  http.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const refuse = (socket: import('node:stream').Duplex, status: number, body: string, extra = {}): void => {
    refused++;
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'dg-request-id': randomUUID(),
      connection: 'close',
      ...extra,
    };
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    socket.end(`HTTP/1.1 ${status} Refused\r\n${lines.join('')}\r\n${body}`);
  };
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== '/v1/listen' && url.pathname !== '/v2/listen') {
      refuse(socket, 404, '{"err_code":"Not Found","err_msg":"no such endpoint"}');
      return;
    }
    if (req.headers.authorization !== `Token ${apiKey}`) {
      const given = (req.headers.authorization ?? '').replace(/^Token /, '');
      const body = JSON.stringify({
        err_code: 'INVALID_AUTH',
        err_msg: `Invalid credentials: ${given}`,
        request_id: randomUUID(),
      });
      refuse(socket, 401, body, { 'dg-error': 'INVALID_AUTH' });
      return;
    }
    const problem = queryProblem(url.pathname, url.searchParams);
    if (problem !== undefined) {
      refuse(
        socket,
        400,
        JSON.stringify({ err_code: 'Bad Request', err_msg: problem, request_id: randomUUID() }),
      );
      return;
    }
    const refusal = refusals.shift();
    if (refusal !== undefined) {
      refuse(socket, refusal.status, refusal.body, refusal.headers);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, url, req.headers));
  });

  const accept = (ws: WebSocket, url: URL, headers: IncomingHttpHeaders): void => {
    const flux = url.pathname === '/v2/listen';
    const chunks: Buffer[] = [];
    let bytes = 0;
    let closeStream = false;
    let seq = 0;
    let markClosed: (v: { code: number; reason: string }) => void = () => undefined;
    const changed = new Set<() => void>();
    const notify = (): void => {
      for (const f of [...changed]) f();
    };
    /** Resolves once `cond` holds; checked on every message received. */
    const until = (cond: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!cond()) return;
          changed.delete(check);
          resolve();
        };
        changed.add(check);
        check();
      });
    const conn: DeepgramConnection = {
      path: url.pathname,
      query: url.searchParams,
      headers,
      get audio() {
        return Buffer.concat(chunks);
      },
      controls: [],
      log: [],
      closed: new Promise((resolve) => (markClosed = resolve)),
      control: async (type) => {
        await until(() => conn.controls.some((c) => c['type'] === type));
        return conn.controls.find((c) => c['type'] === type) as Record<string, unknown>;
      },
      audioBytes: (n) => until(() => bytes >= n),
    };
    connections.push(conn);
    const send = (msg: Record<string, unknown>): void => {
      if (ws.readyState !== ws.OPEN) return;
      ws.send(JSON.stringify(flux ? { ...msg, sequence_id: seq++ } : msg));
    };
    const finish = (): void => {
      if (ws.readyState !== ws.OPEN) return;
      if (!flux) {
        send({
          type: 'Metadata',
          transaction_key: 'deprecated',
          request_id: randomUUID(),
          sha256: 'fake',
          created: new Date().toISOString(),
          duration: bytes / 2 / Number(url.searchParams.get('sample_rate') ?? '16000'),
          channels: 1,
        });
      }
      ws.close(1000);
    };

    // Deepgram closes a live stream that got neither audio nor KeepAlive for 10 s.
    const idle = flux
      ? undefined
      : setTimeout(() => ws.close(1011, 'NET-0001: no audio received'), opts.idleCloseMs ?? 10_000);
    ws.on('close', (code, reason) => {
      clearTimeout(idle);
      closeStream = true;
      notify();
      markClosed({ code, reason: reason.toString('utf8') });
    });
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data)
        ? data
        : Array.isArray(data)
          ? Buffer.concat(data)
          : Buffer.from(data);
      if (isBinary) {
        chunks.push(buf);
        bytes += buf.length;
        conn.log.push('audio');
        idle?.refresh();
      } else {
        const msg = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
        const type = String(msg['type']);
        conn.controls.push(msg);
        conn.log.push(type);
        if (type === 'KeepAlive') idle?.refresh();
        if (type === 'CloseStream') closeStream = true;
      }
      notify();
    });

    if (flux) send({ type: 'Connected', request_id: randomUUID() });
    const steps = scripts.shift() ?? [];
    const awaited = new Map<string, number>();
    void (async () => {
      for (const step of steps) {
        const nth = step.onControl === undefined ? 0 : (awaited.get(step.onControl) ?? 0) + 1;
        if (step.onControl !== undefined) awaited.set(step.onControl, nth);
        const ready = (): boolean =>
          bytes >= (step.afterBytes ?? 0) &&
          conn.controls.filter((c) => c['type'] === step.onControl).length >= nth;
        await until(() => ready() || closeStream);
        // After CloseStream the steps still due fire (Deepgram flushes); the rest never will.
        if (!ready() || ws.readyState !== ws.OPEN) break;
        if (step.afterMs !== undefined) await new Promise((r) => setTimeout(r, step.afterMs));
        if ('send' in step) {
          send(step.send);
          // Flux's Error is fatal (reference §4.3; the close code is not documented, 1011 is our guess).
          if (flux && step.send['type'] === 'Error') ws.close(1011, String(step.send['code']));
        } else if ('drop' in step) ws.terminate();
        else ws.close(step.close, step.reason ?? '');
      }
      await until(() => closeStream);
      finish();
    })();
    for (const w of connWaiters.splice(0)) w(conn);
  };

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    connections,
    get refused() {
      return refused;
    },
    script(...steps) {
      scripts.push(steps);
    },
    refuseNext(status, errCode, errMsg, headers = {}) {
      const body = JSON.stringify({ err_code: errCode, err_msg: errMsg, request_id: randomUUID() });
      refusals.push({ status, body, headers });
    },
    connection() {
      return new Promise((resolve) => connWaiters.push(resolve));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        http.close(() => resolve());
      });
      return closing;
    },
  };
}

/** An enabled 'deepgram' stt row pointing at `baseUrl`, with the fake's key. */
export function deepgramRow(
  baseUrl: string,
  over: { config?: Record<string, unknown>; apiKey?: string; kind?: string; provider_uuid?: string } = {},
): ProviderRow {
  return {
    provider_uuid: over.provider_uuid ?? randomUUID(),
    domain_uuid: '00000000-0000-4000-8000-000000000001',
    provider_type: over.kind ?? 'stt',
    provider_name: 'deepgram',
    config: { base_url: baseUrl, model: 'nova-3', ...over.config },
    secrets: { api_key: over.apiKey ?? FAKE_DEEPGRAM_KEY },
    is_default: false,
    priority: 100,
  };
}

/** Every event until the stream ends, and the error it ended with, if any. */
export async function drain(
  events: AsyncIterable<SttEvent>,
  onEvent: (ev: SttEvent, all: SttEvent[]) => void = () => undefined,
): Promise<{ events: SttEvent[]; error: unknown }> {
  const got: SttEvent[] = [];
  try {
    for await (const ev of events) {
      got.push(ev);
      onEvent(ev, got);
    }
    return { events: got, error: undefined };
  } catch (error) {
    return { events: got, error };
  }
}

/** `n` frames of `samplesPerFrame`, frame i filled with a pattern of its own, as little-endian bytes. */
export function pattern(n: number, samplesPerFrame: number): { frames: Int16Array[]; bytes: Buffer } {
  const frames: Int16Array[] = [];
  const bytes = Buffer.alloc(n * samplesPerFrame * 2);
  for (let i = 0; i < n; i++) {
    const f = new Int16Array(samplesPerFrame);
    for (let j = 0; j < samplesPerFrame; j++) {
      // Extremes and negatives included: a sign or byte-order slip shows.
      const v = j === 0 ? -32768 : j === 1 ? 32767 : ((i * 977 + j * 131) % 65536) - 32768;
      f[j] = v;
      bytes.writeInt16LE(v, (i * samplesPerFrame + j) * 2);
    }
    frames.push(f);
  }
  return { frames, bytes };
}
