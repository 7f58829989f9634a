/**
 * A real HTTP server on 127.0.0.1 (port 0) speaking OpenAI's wire formats: chat completions (SSE), audio
 * transcriptions (multipart), audio speech (streamed PCM) and embeddings. Each request takes the next
 * scripted reply for its route, else the route's handler, else a default. Every request is captured, with an
 * `aborted` flag that turns true when the client goes away before the reply is complete.
 *
 *   const fake = await startFakeOpenAi();
 *   fake.script('transcriptions', { type: 'transcription', text: 'quero falar com vendas' });
 *   fake.script('chat', { type: 'chat', text: 'Um momento.', toolCalls: [{ name: 'transfer', arguments: { to: '200' } }] });
 *   fake.script('speech', { type: 'speech', durationMs: 500 });
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  chatEvents,
  hashVector,
  pcmBytes,
  sseText,
  tone,
  type FakeLatency,
  type FakeReply,
  type SpeechReply,
} from './openai-replies.js';

export * from './openai-replies.js';

export type FakeRoute = 'chat' | 'transcriptions' | 'speech' | 'embeddings';

const ROUTES: Record<string, FakeRoute> = {
  '/v1/chat/completions': 'chat',
  '/v1/audio/transcriptions': 'transcriptions',
  '/v1/audio/speech': 'speech',
  '/v1/embeddings': 'embeddings',
};

export interface FakeFile {
  filename: string;
  type: string;
  bytes: Buffer;
}

export interface CapturedRequest {
  seq: number;
  method: string;
  path: string;
  route: FakeRoute | undefined;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body (undefined for multipart or an empty body). */
  body: unknown;
  /** Multipart fields; files with their bytes. */
  form: Record<string, string | FakeFile> | undefined;
  /** True once the client went away before the reply was complete. */
  aborted: boolean;
  /** Resolves when the exchange is over, completed or not. */
  closed: Promise<void>;
  /**
   * performance.now() (this thread's) when the body's last byte was read. Latencies count from here, as a
   * real provider's do from the request reaching it: parsing the body is part of the provider's time.
   */
  receivedAt: number;
}

export interface FakeOpenAiOptions {
  /** When set, requests must carry `Authorization: Bearer <apiKey>`; others get a 401 that echoes the key. */
  apiKey?: string;
  /** Length of default embeddings (unless the request asks for `dimensions`). */
  embeddingDimensions?: number;
}

export type FakeHandler = (req: CapturedRequest) => FakeReply | Promise<FakeReply>;

export interface FakeOpenAi {
  /** `http://127.0.0.1:PORT/v1`, to use as base_url. */
  readonly baseUrl: string;
  readonly requests: readonly CapturedRequest[];
  /** Queues replies for `route`, one per request, in order. */
  script(route: FakeRoute, ...replies: FakeReply[]): void;
  /** Answers requests to `route` with `handler` once its script is used up. */
  on(route: FakeRoute, handler: FakeHandler): void;
  /** The next request to `route` (or to any route) that arrives from now on. */
  nextRequest(route?: FakeRoute): Promise<CapturedRequest>;
  close(): Promise<void>;
}

export async function startFakeOpenAi(opts: FakeOpenAiOptions = {}): Promise<FakeOpenAi> {
  const requests: CapturedRequest[] = [];
  const scripts = new Map<FakeRoute, FakeReply[]>();
  const handlers = new Map<FakeRoute, FakeHandler>();
  const waiters: { route: FakeRoute | undefined; resolve: (r: CapturedRequest) => void }[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const receivedAt = performance.now();
    const raw = Buffer.concat(chunks);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const gone = new AbortController();
    let markClosed = (): void => undefined;
    const captured: CapturedRequest = {
      seq: requests.length + 1,
      method: req.method ?? 'GET',
      path,
      route: ROUTES[path],
      headers: req.headers,
      body: undefined,
      form: undefined,
      aborted: false,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      receivedAt,
    };
    res.on('close', () => {
      if (!res.writableFinished) captured.aborted = true;
      gone.abort();
      markClosed();
    });
    await parseBody(captured, raw, req.headers['content-type'] ?? '');
    requests.push(captured);
    for (const w of waiters.splice(0)) {
      if (w.route === undefined || w.route === captured.route) w.resolve(captured);
      else waiters.push(w);
    }
    const route = captured.route;
    if (route === undefined || captured.method !== 'POST') {
      return sendError(res, 404, `Invalid URL (${captured.method} ${path})`, 'invalid_request_error');
    }
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      // Echoes the key verbatim (OpenAI masks it) so tests prove the client scrubs what vendors send back.
      const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      return sendError(
        res,
        401,
        `Incorrect API key provided: ${given}.`,
        'invalid_request_error',
        'invalid_api_key',
      );
    }
    const reply =
      scripts.get(route)?.shift() ?? (await handlers.get(route)?.(captured)) ?? defaultReply(route);
    await write(reply, captured, req, res, gone.signal, opts);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendError(res, 500, `fake server bug: ${String(err)}`, 'server_error');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    script(route, ...replies) {
      scripts.set(route, [...(scripts.get(route) ?? []), ...replies]);
    },
    on(route, handler) {
      handlers.set(route, handler);
    },
    nextRequest(route) {
      return new Promise((resolve) => waiters.push({ route, resolve }));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function defaultReply(route: FakeRoute): FakeReply {
  switch (route) {
    case 'chat':
      return { type: 'chat', text: 'Olá! Como posso ajudar?' };
    case 'transcriptions':
      return { type: 'transcription', text: '' };
    case 'speech':
      return { type: 'speech', durationMs: 200 };
    case 'embeddings':
      return { type: 'embeddings' };
  }
}

async function parseBody(captured: CapturedRequest, raw: Buffer, contentType: string): Promise<void> {
  if (raw.length === 0) return;
  if (contentType.startsWith('multipart/form-data')) {
    const form = await new Response(raw, { headers: { 'content-type': contentType } }).formData();
    const fields: Record<string, string | FakeFile> = {};
    for (const [name, value] of form) {
      fields[name] =
        typeof value === 'string'
          ? value
          : { filename: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) };
    }
    captured.form = fields;
    return;
  }
  try {
    captured.body = JSON.parse(raw.toString('utf8'));
  } catch {
    captured.body = raw.toString('utf8');
  }
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null = null,
) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type, param: null, code } }));
}

/** Resolves after `ms`, or at once when the client has gone. */
function pause(ms: number | undefined, gone: AbortSignal): Promise<void> {
  if (ms === undefined || ms <= 0 || gone.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      gone.removeEventListener('abort', done);
      resolve();
    }
    gone.addEventListener('abort', done, { once: true });
  });
}

const untilGone = (gone: AbortSignal): Promise<void> => pause(2 ** 31 - 1, gone);

const RATE_HEADERS = {
  'x-request-id': 'req_fake',
  'openai-processing-ms': '12',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-requests': '9999',
  'x-ratelimit-reset-requests': '6ms',
};

async function write(
  reply: FakeReply,
  captured: CapturedRequest,
  req: IncomingMessage,
  res: ServerResponse,
  gone: AbortSignal,
  opts: FakeOpenAiOptions,
): Promise<void> {
  if (reply.type === 'hang') return untilGone(gone);
  if (reply.type === 'reset') {
    req.socket.destroy();
    return;
  }
  const latency: FakeLatency = reply.latency ?? {};
  // Chunk i goes out at receivedAt + firstByteMs + i * perChunkMs: deadlines from the request, not a timer
  // after each write, so timer slack does not pile up over a long stream (a model's pace does not drift).
  const firstAt = captured.receivedAt + (latency.firstByteMs ?? 0);
  await pause(firstAt - performance.now(), gone);
  if (gone.aborted) return;
  const body = (captured.body ?? {}) as Record<string, unknown>;
  const send = async (chunk: string | Uint8Array, i: number): Promise<boolean> => {
    if (i > 0 && latency.perChunkMs) await pause(firstAt + i * latency.perChunkMs - performance.now(), gone);
    if (gone.aborted) return false;
    res.write(chunk);
    return true;
  };
  switch (reply.type) {
    case 'error': {
      res.writeHead(reply.status, { 'content-type': 'application/json', ...RATE_HEADERS, ...reply.headers });
      const error = { message: reply.message ?? 'error', type: reply.errorType ?? 'api_error', param: null };
      res.end(JSON.stringify({ error: { ...error, code: reply.code ?? null } }));
      return;
    }
    case 'raw': {
      res.writeHead(reply.status ?? 200, reply.headers ?? {});
      for (const [i, c] of reply.chunks.entries()) if (!(await send(c, i))) return;
      res.end();
      return;
    }
    case 'transcription': {
      const file = captured.form?.['file'];
      if (typeof file !== 'object' || typeof captured.form?.['model'] !== 'string') {
        return sendError(res, 400, 'you must provide a model parameter and a file', 'invalid_request_error');
      }
      res.writeHead(200, { 'content-type': 'application/json', ...RATE_HEADERS });
      const seconds = Math.ceil(Math.max(0, file.bytes.length - 44) / Math.max(1, 2 * wavRate(file.bytes)));
      const language = reply.language === undefined ? {} : { language: reply.language };
      res.end(JSON.stringify({ text: reply.text, ...language, usage: { type: 'duration', seconds } }));
      return;
    }
    case 'embeddings': {
      const input = body['input'];
      const texts = Array.isArray(input)
        ? input.map((t) => String(t))
        : [typeof input === 'string' ? input : ''];
      const dims =
        typeof body['dimensions'] === 'number' ? body['dimensions'] : (opts.embeddingDimensions ?? 8);
      const vectors = reply.vectors ?? texts.map((t) => hashVector(t, dims));
      const base64 = body['encoding_format'] === 'base64';
      const data = vectors.map((v, index) => ({
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(new Float32Array(v).buffer).toString('base64') : v,
      }));
      res.writeHead(200, { 'content-type': 'application/json', ...RATE_HEADERS });
      const usage = { prompt_tokens: texts.length * 5, total_tokens: texts.length * 5 };
      res.end(JSON.stringify({ object: 'list', data, model: body['model'], usage }));
      return;
    }
    case 'speech':
      return writeSpeech(reply, body, req, res, send, gone);
    case 'chat': {
      const streamOptions = body['stream_options'] as { include_usage?: unknown } | undefined;
      const events = chatEvents(reply, {
        model: body['model'],
        includeUsage: streamOptions?.include_usage === true,
      });
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', ...RATE_HEADERS });
      for (const [i, ev] of events.entries()) {
        if (ev.kind === 'fault' && ev.fault === 'hang') return untilGone(gone);
        if (ev.kind === 'fault' && ev.fault === 'reset') {
          req.socket.destroy();
          return;
        }
        const text = sseText(ev, reply.quirks ?? {});
        if (text !== undefined && !(await send(text, i))) return;
        if (ev.kind === 'fault') break;
      }
      res.end();
      return;
    }
  }
}

async function writeSpeech(
  reply: SpeechReply,
  body: Record<string, unknown>,
  req: IncomingMessage,
  res: ServerResponse,
  send: (chunk: Uint8Array, i: number) => Promise<boolean>,
  gone: AbortSignal,
): Promise<void> {
  if (
    typeof body['input'] !== 'string' ||
    typeof body['voice'] !== 'string' ||
    typeof body['model'] !== 'string'
  ) {
    return sendError(res, 400, 'model, input and voice are required', 'invalid_request_error');
  }
  if (body['response_format'] !== 'pcm') {
    return sendError(res, 400, 'the fake only speaks response_format pcm', 'invalid_request_error');
  }
  const bytes = pcmBytes(reply.samples ?? tone(reply.durationMs ?? 200));
  const step = reply.chunkBytes ?? 4095;
  res.writeHead(200, { 'content-type': 'audio/pcm', ...RATE_HEADERS });
  for (let at = 0, i = 0; at < bytes.length; at += step, i++) {
    const end = Math.min(bytes.length, at + step);
    const faultAt = reply.fault?.afterBytes;
    if (reply.fault && faultAt !== undefined && faultAt < end) {
      if (faultAt > at && !(await send(bytes.subarray(at, faultAt), i))) return;
      if (reply.fault.type === 'reset') req.socket.destroy();
      else await untilGone(gone);
      return;
    }
    if (!(await send(bytes.subarray(at, end), i))) return;
  }
  res.end();
}

/** Sample rate from a canonical WAV header; 16 kHz when there is none. */
function wavRate(bytes: Buffer): number {
  return bytes.length >= 44 && bytes.toString('ascii', 0, 4) === 'RIFF' ? bytes.readUInt32LE(24) : 16_000;
}
