import type { ClientRequest, IncomingMessage } from 'node:http';
import { endianness } from 'node:os';
import WebSocket from 'ws';
import { AbortedError, InvalidInputError, ProviderError } from '../../core/errors.js';
import { optionalPositive, optionalString } from '../openai-compatible.js';
import { isRetryableResponse, parseRetryAfterMs, scrub, transportError } from '../transport/http.js';
import type {
  PcmAudio,
  ProviderInfo,
  ProviderRow,
  SttEvent,
  SttProvider,
  SttStream,
  SttStreamOptions,
  Transcript,
  TranscribeOptions,
} from '../types.js';

export const DEEPGRAM_BASE_URL = 'https://api.deepgram.com';
export const DEEPGRAM_DEFAULT_MODEL = 'nova-3';
/** Audio held back (ours plus the socket's) before the oldest frames are dropped. */
const MAX_BUFFERED_MS = 2000;
/** A frame goes to the socket only while the socket holds less than this share of the budget. */
const SEND_LOW_WATER_SHARE = 4;
const ERROR_BODY_LIMIT = 8192;
const MAX_FRAME_BYTES = 1024 * 1024;
/** After an abort the close frame gets this long to go out before the socket is dropped. */
const ABORT_LINGER_MS = 1000;
/** transcribe() writes a whole clip at once: the flush after CloseStream may take longer than live audio's. */
const TRANSCRIBE_CLOSE_MS = 10_000;
/** transcribe() sends its clip in frames this long: Flux asks for ~80 ms per frame (reference §4.3). */
const CLIP_FRAME_MS = 80;
/** Over ~500 keyterm tokens Deepgram silently stops transcribing (reference §4.1): stay far below. */
const MAX_KEYTERMS = 50;

/** What both Deepgram adapters need; built from a row by `deepgramConfigFromRow`. */
export interface DeepgramConfig {
  info: ProviderInfo;
  /** http(s) or ws(s), no trailing slash: `${baseUrl}/v1/listen`. */
  baseUrl: string;
  apiKey: string;
  language?: string;
  /** Idle time without audio after which a KeepAlive goes out (live only; Deepgram closes after 10 s). */
  keepAliveMs: number;
  /** How long close() waits for the server's close after CloseStream. */
  closeTimeoutMs: number;
  /** Bound on the WebSocket handshake. */
  openTimeoutMs: number;
  /** Trailing silence that ends an utterance when the stream options name none. */
  endpointingMs: number;
  /** Live `utterance_end_ms` (Deepgram wants at least 1000). */
  utteranceEndMs: number;
  /** Row config as given, for model-specific settings (Flux thresholds). */
  extra: Readonly<Record<string, unknown>>;
}

/** Validates a 'deepgram' row; InvalidInputError naming the row when it cannot work. */
export function deepgramConfigFromRow(row: ProviderRow): DeepgramConfig {
  const where = `provider ${row.provider_uuid} (${row.provider_name} ${row.provider_type})`;
  const c = row.config;
  const baseUrl = optionalString(c, 'base_url', where) ?? DEEPGRAM_BASE_URL;
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidInputError(`${where}: base_url is not a URL`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) {
    throw new InvalidInputError(`${where}: base_url must be http(s) or ws(s)`);
  }
  const apiKey = row.secrets?.['api_key'];
  if (apiKey === undefined || apiKey === '')
    throw new InvalidInputError(`${where}: secret api_key is missing`);
  const model = optionalString(c, 'model', where) ?? DEEPGRAM_DEFAULT_MODEL;
  const language = optionalString(c, 'language', where);
  return {
    info: { vendor: row.provider_name, kind: 'stt', model, providerUuid: row.provider_uuid },
    baseUrl: baseUrl.replace(/\/+$/, ''),
    apiKey,
    ...(language === undefined ? {} : { language }),
    keepAliveMs: optionalPositive(c, 'keepalive_ms', where) ?? 4000,
    closeTimeoutMs: optionalPositive(c, 'close_timeout_ms', where) ?? 3000,
    openTimeoutMs: optionalPositive(c, 'open_timeout_ms', where) ?? 10_000,
    endpointingMs: optionalPositive(c, 'endpointing_ms', where) ?? 300,
    utteranceEndMs: optionalPositive(c, 'utterance_end_ms', where) ?? 1000,
    extra: c,
  };
}

/** Nova live recognition over /v1/listen; transcribe() streams the clip through the same socket. */
export function createDeepgramStt(config: DeepgramConfig): SttProvider {
  const open = (opts: SttStreamOptions, signal: AbortSignal): Promise<ListenStream> => {
    const q = new URLSearchParams({
      model: config.info.model,
      encoding: 'linear16',
      sample_rate: String(sampleRate(opts.sampleRateHz)),
      channels: '1',
      interim_results: 'true',
      endpointing: String(Math.round(opts.endpointingMs ?? config.endpointingMs)),
      utterance_end_ms: String(Math.round(config.utteranceEndMs)),
      vad_events: 'true',
      smart_format: 'true',
      punctuate: 'true',
    });
    const language = bcp47(opts.language ?? config.language);
    if (language !== undefined) q.set('language', language);
    for (const term of keyterms(opts.prompt)) q.append('keyterm', term);
    return openListen(
      {
        config,
        url: listenUrl(config, 'v1', q),
        label: 'live',
        sampleRateHz: opts.sampleRateHz,
        keepAlive: true,
        finalizeMessage: { type: 'Finalize' },
        parse: liveParser(),
      },
      signal,
    );
  };
  return {
    info: config.info,
    stream: open,
    transcribe: (audio, opts, signal) => transcribeOverStream(open, audio, opts, signal),
  };
}

/**
 * Results, SpeechStarted and UtteranceEnd as events. is_final segments accumulate until speech_final,
 * UtteranceEnd or a result of our Finalize ends the turn; partials carry the turn so far.
 */
function liveParser(): Parser {
  let pieces: string[] = [];
  const endTurn = (atMs: number | undefined): SttEvent[] => {
    const text = pieces.join(' ');
    pieces = [];
    if (text === '') return [];
    return [{ type: 'final', text, endOfTurn: true, ...(atMs === undefined ? {} : { atMs }) }];
  };
  return (msg, writtenMs) => {
    switch (msg['type']) {
      case 'Results': {
        const text = resultText(msg);
        const start = seconds(msg['start']);
        const duration = seconds(msg['duration']);
        const atMs = start === undefined ? undefined : Math.round((start + (duration ?? 0)) * 1000);
        if (msg['is_final'] !== true) {
          return text === '' ? [] : [{ type: 'partial', text: [...pieces, text].join(' ') }];
        }
        if (text !== '') pieces.push(text);
        if (msg['speech_final'] === true || msg['from_finalize'] === true) return endTurn(atMs);
        if (text === '') return [];
        return [{ type: 'final', text, endOfTurn: false, ...(atMs === undefined ? {} : { atMs }) }];
      }
      case 'UtteranceEnd': {
        const end = seconds(msg['last_word_end']);
        return endTurn(end === undefined ? undefined : Math.round(end * 1000));
      }
      case 'SpeechStarted': {
        const at = seconds(msg['timestamp']);
        return [{ type: 'speech_started', atMs: at === undefined ? writtenMs : Math.round(at * 1000) }];
      }
      default:
        return []; // Metadata and anything newer
    }
  };
}

function resultText(msg: Record<string, unknown>): string {
  const channel = msg['channel'] as { alternatives?: { transcript?: unknown }[] } | undefined;
  const t = channel?.alternatives?.[0]?.transcript;
  return typeof t === 'string' ? t.trim() : '';
}

/** Maps one server message to events, or to the error that ends the stream. */
export type Parser = (msg: Record<string, unknown>, writtenMs: number) => SttEvent[] | ProviderError;

export interface ListenSpec {
  config: DeepgramConfig;
  url: string;
  /** 'live' or 'flux', for messages. */
  label: string;
  sampleRateHz: number;
  /** Send KeepAlive when idle (v1 has it; the v2 socket has none). */
  keepAlive: boolean;
  finalizeMessage: object;
  parse: Parser;
}

/** Opens the socket; resolves once the upgrade succeeded. */
export async function openListen(spec: ListenSpec, signal: AbortSignal): Promise<ListenStream> {
  const vendor = spec.config.info.vendor;
  if (signal.aborted) throw new AbortedError(`${vendor} ${spec.label} stt aborted`, { cause: signal.reason });
  const stream = new ListenStream(spec, signal);
  await stream.ready;
  return stream;
}

/** One live recognition socket: audio out through a bounded queue, events in through a queue of our own. */
export class ListenStream implements SttStream {
  readonly events: AsyncIterable<SttEvent>;
  readonly ready: Promise<void>;
  readonly #spec: ListenSpec;
  readonly #vendor: string;
  readonly #ws: WebSocket;
  readonly #signal: AbortSignal;
  readonly #maxBufferedBytes: number;
  readonly #closedByServer: Promise<void>;
  readonly #audio: Buffer[] = [];
  #queuedBytes = 0;
  #pumpScheduled = false;
  #sentBytes = 0;
  #droppedFrames = 0;
  readonly #pending: SttEvent[] = [];
  #error: Error | undefined;
  #ended = false;
  #closeRequested = false;
  #closing: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #opened: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(spec: ListenSpec, signal: AbortSignal) {
    this.#spec = spec;
    this.#vendor = spec.config.info.vendor;
    this.#signal = signal;
    this.#maxBufferedBytes = Math.round((spec.sampleRateHz * 2 * MAX_BUFFERED_MS) / 1000);
    this.ready = new Promise<void>((resolve, reject) => (this.#opened = { resolve, reject }));
    let markClosed = (): void => undefined;
    this.#closedByServer = new Promise<void>((resolve) => (markClosed = resolve));
    this.events = { [Symbol.asyncIterator]: () => this.#iterate() };
    this.#ws = new WebSocket(spec.url, {
      headers: { authorization: `Token ${spec.config.apiKey}` },
      handshakeTimeout: spec.config.openTimeoutMs,
      maxPayload: MAX_FRAME_BYTES,
      perMessageDeflate: false,
    });
    this.#ws.on('open', () => this.#onOpen());
    this.#ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    this.#ws.on('unexpected-response', (req, res) => this.#onRefused(req, res));
    this.#ws.on('error', (err) => this.#fail(transportError(this.#call(), err)));
    this.#ws.on('close', (code, reason) => {
      markClosed();
      this.#onClose(code, reason.toString('utf8'));
    });
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Frames dropped because more than ~2 s of audio was waiting to go out. */
  get droppedFrames(): number {
    return this.#droppedFrames;
  }

  write(frame: Int16Array): void {
    if (!this.#writable() || frame.length === 0) return;
    this.#enqueue(frame);
    // Never more than the budget waiting: the oldest audio is the least useful to a live conversation.
    // When the socket alone holds the budget this drops the new frame too: it is skipped, and counted.
    while (this.#audio.length > 0 && this.#queuedBytes + this.#ws.bufferedAmount > this.#maxBufferedBytes) {
      this.#queuedBytes -= this.#audio.shift()?.length ?? 0;
      this.#droppedFrames++;
    }
    this.#schedulePump();
  }

  /** Queues a whole clip without the live budget (transcribe: the clip is in memory anyway). */
  writeAll(samples: Int16Array): void {
    if (!this.#writable() || samples.length === 0) return;
    const step = Math.max(1, Math.round((this.#spec.sampleRateHz * CLIP_FRAME_MS) / 1000));
    for (let i = 0; i < samples.length; i += step) this.#enqueue(samples.subarray(i, i + step));
    this.#schedulePump();
  }

  finalize(): void {
    if (!this.#writable()) return;
    this.#pump();
    this.#sendJson(this.#spec.finalizeMessage);
  }

  close(waitMs: number = this.#spec.config.closeTimeoutMs): Promise<void> {
    return (this.#closing ??= this.#close(waitMs));
  }

  async #close(waitMs: number): Promise<void> {
    this.#signal.removeEventListener('abort', this.#onAbort);
    if (this.#ws.readyState === WebSocket.OPEN && this.#error === undefined && !this.#ended) {
      this.#pump();
      this.#closeRequested = true;
      this.#sendJson({ type: 'CloseStream' });
      if (!(await within(this.#closedByServer, waitMs))) this.#ws.terminate();
    } else if (this.#ws.readyState !== WebSocket.CLOSED) {
      this.#closeRequested = true;
      this.#ws.terminate();
    }
    this.#stopKeepAlive();
    this.#ended = true;
    this.#wakeUp();
    // A dropped socket reports its close at once; the bound only guards against ws never saying so.
    await within(this.#closedByServer, ABORT_LINGER_MS);
  }

  async *#iterate(): AsyncGenerator<SttEvent> {
    try {
      for (;;) {
        const ev = this.#pending.shift();
        if (ev !== undefined) {
          yield ev;
          continue;
        }
        if (this.#error !== undefined) throw this.#error;
        if (this.#ended) return;
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      // A consumer that stops reading is done with the stream: the socket must not outlive it.
      if (!this.#ended && this.#error === undefined) void this.close();
    }
  }

  #writable(): boolean {
    return (
      !this.#closeRequested &&
      this.#error === undefined &&
      !this.#ended &&
      this.#ws.readyState === WebSocket.OPEN
    );
  }

  #enqueue(samples: Int16Array): void {
    // A copy: callers reuse their frame buffers. Deepgram wants little-endian whatever the host is.
    const bytes = Buffer.copyBytesFrom(samples);
    if (endianness() === 'BE') bytes.swap16();
    this.#audio.push(bytes);
    this.#queuedBytes += bytes.length;
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => this.#pump());
  }

  #pump(): void {
    this.#pumpScheduled = false;
    const lowWater = this.#maxBufferedBytes / SEND_LOW_WATER_SHARE;
    while (this.#audio.length > 0 && this.#ws.readyState === WebSocket.OPEN) {
      if (this.#ws.bufferedAmount > lowWater && !this.#closeRequested) {
        return; // the send callback below pumps again once the socket drained
      }
      const bytes = this.#audio.shift() as Buffer;
      this.#queuedBytes -= bytes.length;
      this.#sentBytes += bytes.length;
      this.#ws.send(bytes, { binary: true }, (err) => {
        if (err) this.#fail(transportError(this.#call(), err));
        else if (this.#audio.length > 0) this.#schedulePump();
      });
      this.#keepAlive?.refresh();
    }
  }

  #sendJson(msg: object): void {
    this.#ws.send(JSON.stringify(msg), (err) => {
      if (err) this.#fail(transportError(this.#call(), err));
    });
  }

  #onOpen(): void {
    if (this.#spec.keepAlive) {
      this.#keepAlive = setInterval(
        () => this.#sendJson({ type: 'KeepAlive' }),
        this.#spec.config.keepAliveMs,
      );
      this.#keepAlive.unref();
    }
    this.#opened?.resolve();
  }

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary || this.#error !== undefined || this.#ended) return;
    let msg: unknown;
    try {
      msg = JSON.parse(rawText(data));
    } catch {
      this.#fail(
        this.#providerError(`${this.#vendor} ${this.#spec.label} sent a frame that is not JSON`, false),
      );
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    const writtenMs = Math.round((this.#sentBytes / 2 / this.#spec.sampleRateHz) * 1000);
    const out = this.#spec.parse(msg as Record<string, unknown>, writtenMs);
    if (out instanceof ProviderError) {
      // The vendor wrote this text (Flux Error descriptions): it must not carry the key into a log.
      this.#fail(
        new ProviderError(out.vendor, this.#scrub(out.message), {
          retryable: out.retryable,
          ...(out.status === undefined ? {} : { status: out.status }),
        }),
      );
      return;
    }
    if (out.length === 0) return;
    this.#pending.push(...out);
    this.#wakeUp();
  }

  /** The upgrade was answered with an HTTP status: 401 a bad key, 429 the concurrency limit, 5xx theirs. */
  #onRefused(req: ClientRequest, res: IncomingMessage): void {
    const parts: Buffer[] = [];
    let size = 0;
    const finish = (): void => {
      req.destroy();
      const status = res.statusCode ?? 0;
      const headers = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        if (typeof v === 'string') headers.set(k, v);
        else if (Array.isArray(v)) headers.set(k, v.join(', '));
      }
      const body = parseDeepgramError(Buffer.concat(parts).toString('utf8'));
      const code = body.code ?? headers.get('dg-error') ?? undefined;
      const detail = [code, body.message].filter((s) => s !== undefined && s !== '').join(': ');
      const retryAfterMs = parseRetryAfterMs(headers);
      this.#fail(
        new ProviderError(
          this.#vendor,
          this.#scrub(
            `${this.#vendor} ${this.#spec.label} responded ${status}${detail ? `: ${detail}` : ''}`,
          ),
          {
            status,
            retryable: isRetryableResponse(status, headers, code),
            ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
          },
        ),
      );
    };
    res.on('data', (chunk: Buffer) => {
      if (size < ERROR_BODY_LIMIT) parts.push(chunk.subarray(0, ERROR_BODY_LIMIT - size));
      size += chunk.length;
    });
    res.on('end', finish);
    res.on('error', finish);
  }

  #onClose(code: number, reason: string): void {
    this.#stopKeepAlive();
    if (this.#closeRequested || this.#error !== undefined) {
      this.#ended = true;
      this.#wakeUp();
      return;
    }
    // 1008 is DATA-0000 (audio it cannot read): sending the same audio again gets the same answer.
    // 1011 (NET-0000/NET-0001) and a dropped connection (1006) are worth another stream.
    const retryable = !(code >= 4000 || [1002, 1003, 1007, 1008, 1009].includes(code));
    const why = reason === '' ? '' : `: ${reason.slice(0, 200)}`;
    this.#fail(
      this.#providerError(
        `${this.#vendor} ${this.#spec.label} stream closed unexpectedly (code ${code}${why})`,
        retryable,
      ),
    );
  }

  readonly #onAbort = (): void => {
    this.#fail(
      new AbortedError(`${this.#vendor} ${this.#spec.label} stt aborted`, { cause: this.#signal.reason }),
    );
  };

  #providerError(message: string, retryable: boolean): ProviderError {
    return new ProviderError(this.#vendor, this.#scrub(message), { retryable });
  }

  /** The first failure wins; queued events are still delivered before it is thrown. */
  #fail(err: Error): void {
    if (this.#error !== undefined || this.#ended) return;
    this.#error = err;
    this.#audio.length = 0;
    this.#queuedBytes = 0;
    this.#stopKeepAlive();
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#opened?.reject(err);
    this.#wakeUp();
    if (err instanceof AbortedError && this.#ws.readyState === WebSocket.OPEN) {
      // A close frame tells Deepgram to stop (and stop billing); drop the socket if it does not go out.
      this.#ws.close(1000);
      setTimeout(() => this.#ws.terminate(), ABORT_LINGER_MS).unref();
    } else {
      this.#ws.terminate();
    }
  }

  #stopKeepAlive(): void {
    clearInterval(this.#keepAlive);
    this.#keepAlive = undefined;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #scrub(text: string): string {
    return scrub(text, [this.#spec.config.apiKey]);
  }

  #call() {
    return { vendor: this.#vendor, signal: this.#signal, secrets: [this.#spec.config.apiKey] };
  }
}

/**
 * A whole clip through a live socket: everything written at once, Finalize, CloseStream, and the turns
 * joined. Text still provisional when the server closed (a turn it never ended) counts too.
 */
export async function transcribeOverStream(
  open: (opts: SttStreamOptions, signal: AbortSignal) => Promise<ListenStream>,
  audio: PcmAudio,
  opts: TranscribeOptions,
  signal: AbortSignal,
): Promise<Transcript> {
  const durationMs = Math.round((audio.samples.length / audio.sampleRateHz) * 1000);
  if (audio.samples.length === 0) return { text: '', durationMs: 0 };
  const stream = await open({ ...opts, sampleRateHz: audio.sampleRateHz }, signal);
  const collected = collectTurns(stream.events);
  collected.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
  try {
    stream.writeAll(audio.samples);
    stream.finalize();
    await stream.close(TRANSCRIBE_CLOSE_MS);
    return { text: await collected, durationMs };
  } finally {
    await stream.close();
  }
}

async function collectTurns(events: AsyncIterable<SttEvent>): Promise<string> {
  const turns: string[] = [];
  let current: string[] = [];
  let partial = '';
  for await (const ev of events) {
    if (ev.type === 'partial') partial = ev.text;
    if (ev.type !== 'final') continue;
    partial = '';
    if (ev.endOfTurn) {
      turns.push(ev.text);
      current = [];
    } else current.push(ev.text);
  }
  const rest = partial !== '' ? partial : current.join(' ');
  if (rest !== '') turns.push(rest);
  return turns.join(' ').trim();
}

/** `${baseUrl}/v1/listen?…` with http(s) turned into ws(s). */
export function listenUrl(config: DeepgramConfig, version: 'v1' | 'v2', query: URLSearchParams): string {
  const url = new URL(`${config.baseUrl}/${version}/listen`);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  url.search = query.toString();
  return url.toString();
}

export function sampleRate(hz: number): number {
  if (!Number.isInteger(hz) || hz <= 0)
    throw new InvalidInputError(`sample rate ${hz} is not a positive integer`);
  return hz;
}

/** 'pt_br' → 'pt-BR', 'PT' → 'pt', 'multi' stays: Deepgram wants BCP 47 with the usual casing. */
export function bcp47(language: string | undefined): string | undefined {
  const parts =
    language
      ?.trim()
      .split(/[-_]/)
      .filter((p) => p !== '') ?? [];
  if (parts.length === 0) return undefined;
  return parts
    .map((p, i) => {
      if (i === 0) return p.toLowerCase();
      if (p.length === 2) return p.toUpperCase();
      if (p.length === 4) return p.charAt(0).toUpperCase() + p.slice(1).toLowerCase();
      return p.toLowerCase();
    })
    .join('-');
}

/** The vocabulary hint as keyterms: one per comma, semicolon or line, a few dozen at most. */
export function keyterms(prompt: string | undefined): string[] {
  if (prompt === undefined) return [];
  const terms = prompt
    .split(/[,;\n]/)
    .map((t) => t.trim())
    .filter((t) => t !== '' && t.length <= 100);
  return [...new Set(terms)].slice(0, MAX_KEYTERMS);
}

/** `{"err_code":"INVALID_AUTH","err_msg":"…"}` (REST and handshake bodies), else the text on one line. */
function parseDeepgramError(body: string): { message: string; code?: string } {
  try {
    const parsed = JSON.parse(body) as { err_code?: unknown; err_msg?: unknown };
    if (parsed !== null && typeof parsed === 'object') {
      const message = typeof parsed.err_msg === 'string' ? parsed.err_msg : '';
      return typeof parsed.err_code === 'string' ? { message, code: parsed.err_code } : { message };
    }
  } catch {
    // not JSON: fall through to the text
  }
  return { message: body.replace(/\s+/g, ' ').trim().slice(0, 200) };
}

/** True when `promise` settled within `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

function seconds(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
