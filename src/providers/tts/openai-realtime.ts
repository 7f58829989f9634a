import type { ClientRequest, IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { createPcm16Decoder, type Pcm16Decoder } from '../../audio/frames.js';
import { mulawDecode } from '../../audio/g711.js';
import { AbortedError, InvalidInputError, ProviderError } from '../../core/errors.js';
import { optionalPositive, optionalString, secretsOf, type OpenAiConfig } from '../openai-compatible.js';
import {
  isRetryableResponse,
  parseRetryAfterMs,
  parseVendorError,
  scrub,
  transportError,
} from '../transport/http.js';
import type { PcmAudio, SynthesizeOptions, TtsProvider } from '../types.js';

/** `audio/pcm` on Realtime is 24 kHz only; `audio/pcmu` is G.711 at 8 kHz. */
const PCM_RATE_HZ = 24_000;
const PCMU_RATE_HZ = 8000;
/** One server frame; an audio delta is a few hundred ms of base64, far below this. */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Audio decoded but not yet taken by the consumer; above this the socket stops reading until it drains. */
const HIGH_WATER_BYTES = 1024 * 1024;
const ERROR_BODY_LIMIT = 8192;
/** Voices of /audio/speech's tts-1 that Realtime models do not have: refused when the row is built. */
const SPEECH_ONLY_VOICES = new Set(['fable', 'onyx', 'nova']);
/** A realtime model is a conversational one: without this it would answer the text instead of reading it. */
const DEFAULT_INSTRUCTIONS =
  "Read the user's text aloud exactly as written, verbatim. Do not answer it, comment on it, translate it or " +
  'add anything before or after it.';

/** True for the models served by the Realtime API (gpt-realtime-*, gpt-4o-realtime-preview, ...). */
export function isRealtimeModel(model: string): boolean {
  return /(^|-)realtime(-|$)/i.test(model);
}

interface Settings {
  config: OpenAiConfig;
  url: string;
  format: 'pcm' | 'pcmu';
  speed: number | undefined;
  instructions: string | undefined;
}

/**
 * Speech through the Realtime API over WebSocket, the route OpenAI names for speech once /audio/speech shuts
 * down (2027-01-06): one connection per text, GA `session.update` with audio output only, the text as a user
 * item, `response.create`, then `response.output_audio.delta` chunks until `response.done`.
 * Config: voice, output_format ('pcm' 24 kHz, default, or 'pcmu' 8 kHz), speed (0.25-1.5), instructions.
 */
export function createOpenAiRealtimeTts(config: OpenAiConfig): TtsProvider {
  const where = `provider ${config.info.providerUuid ?? '?'} (${config.info.vendor} tts)`;
  const format = optionalString(config.extra, 'output_format', where) ?? 'pcm';
  if (format !== 'pcm' && format !== 'pcmu') {
    throw new InvalidInputError(`${where}: config.output_format must be 'pcm' or 'pcmu' on Realtime`);
  }
  const speed = optionalPositive(config.extra, 'speed', where);
  if (speed !== undefined && (speed < 0.25 || speed > 1.5)) {
    throw new InvalidInputError(`${where}: config.speed must be between 0.25 and 1.5 on Realtime`);
  }
  if (config.voice !== undefined && SPEECH_ONLY_VOICES.has(config.voice)) {
    throw new InvalidInputError(
      `${where}: voice ${config.voice} exists only on tts-1; Realtime has marin, cedar, …`,
    );
  }
  const url = new URL(`${config.baseUrl}/realtime`);
  url.protocol = url.protocol === 'http:' ? 'ws:' : 'wss:';
  url.searchParams.set('model', config.info.model);
  const settings: Settings = {
    config,
    url: url.toString(),
    format,
    speed,
    instructions: optionalString(config.extra, 'instructions', where),
  };
  return { info: config.info, synthesize: (text, opts, signal) => synthesize(settings, text, opts, signal) };
}

async function* synthesize(
  s: Settings,
  text: string,
  opts: SynthesizeOptions,
  signal: AbortSignal,
): AsyncGenerator<PcmAudio> {
  if (text.trim() === '') return;
  if (signal.aborted) throw new AbortedError('openai realtime tts aborted', { cause: signal.reason });
  const speech = new RealtimeSpeech(s, text, opts, signal);
  try {
    for (;;) {
      const chunk = await speech.next();
      if (chunk === undefined) return;
      yield chunk;
    }
  } finally {
    // Also on an early stop by the consumer (barge-in): the socket must not outlive the call.
    speech.close();
  }
}

/** One connection speaking one text; audio is queued until taken, with the socket paused when too much is. */
class RealtimeSpeech {
  readonly #s: Settings;
  readonly #vendor: string;
  readonly #ws: WebSocket;
  readonly #signal: AbortSignal;
  readonly #decoder: Pcm16Decoder = createPcm16Decoder();
  readonly #chunks: PcmAudio[] = [];
  #queuedBytes = 0;
  #audioBytes = 0;
  #paused = false;
  #done = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(s: Settings, text: string, opts: SynthesizeOptions, signal: AbortSignal) {
    this.#s = s;
    this.#vendor = s.config.info.vendor;
    this.#signal = signal;
    const headers: Record<string, string> = {};
    if (s.config.apiKey !== undefined) headers['authorization'] = `Bearer ${s.config.apiKey}`;
    this.#ws = new WebSocket(s.url, { headers, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.#ws.on('open', () => this.#start(text, opts));
    this.#ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    this.#ws.on('unexpected-response', (req, res) => this.#onRefused(req, res));
    this.#ws.on('error', (err) => this.#fail(transportError(this.#call(), err)));
    this.#ws.on('close', (code, reason) => this.#onClose(code, reason.toString('utf8')));
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The next chunk, undefined once the response is complete; queued audio comes before a later error. */
  async next(): Promise<PcmAudio | undefined> {
    for (;;) {
      const chunk = this.#chunks.shift();
      if (chunk !== undefined) {
        this.#queuedBytes -= chunk.samples.byteLength;
        if (this.#paused && this.#queuedBytes < HIGH_WATER_BYTES / 2) {
          this.#paused = false;
          this.#ws.resume();
        }
        return chunk;
      }
      if (this.#error !== undefined) throw this.#error;
      if (this.#done) return undefined;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** Idempotent: a graceful close after a complete response, else the connection is dropped at once. */
  close(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    const state = this.#ws.readyState;
    if (state === WebSocket.CLOSING || state === WebSocket.CLOSED) return;
    if (this.#done && state === WebSocket.OPEN) this.#ws.close(1000);
    else this.#ws.terminate();
  }

  #start(text: string, opts: SynthesizeOptions): void {
    const { config, format, speed } = this.#s;
    const language = opts.language ?? config.language;
    const instructions =
      this.#s.instructions ??
      (language === undefined ? DEFAULT_INSTRUCTIONS : `${DEFAULT_INSTRUCTIONS} The text is in ${language}.`);
    const output = {
      format: format === 'pcm' ? { type: 'audio/pcm', rate: PCM_RATE_HZ } : { type: 'audio/pcmu' },
      voice: opts.voice ?? config.voice ?? 'marin',
      ...(speed === undefined ? {} : { speed }),
    };
    // No input audio and no VAD: nothing but our response.create may start a response.
    const session = {
      type: 'realtime',
      model: config.info.model,
      instructions,
      output_modalities: ['audio'],
      audio: { input: { turn_detection: null }, output },
    };
    const item = { type: 'message', role: 'user', content: [{ type: 'input_text', text }] };
    this.#send({ type: 'session.update', session });
    this.#send({ type: 'conversation.item.create', item });
    this.#send({ type: 'response.create' });
  }

  #send(event: object): void {
    this.#ws.send(JSON.stringify(event), (err) => {
      if (err) this.#fail(transportError(this.#call(), err));
    });
  }

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (isBinary || this.#done || this.#error !== undefined) return;
    let ev: { type?: unknown; delta?: unknown; response?: unknown; error?: unknown };
    try {
      ev = JSON.parse(rawText(data)) as typeof ev;
    } catch {
      this.#fail(this.#providerError(`${this.#vendor} realtime sent a frame that is not JSON`, false));
      return;
    }
    switch (ev.type) {
      case 'response.output_audio.delta':
      case 'response.audio.delta': // the beta name, accepted when parsing
        if (typeof ev.delta === 'string') this.#push(Buffer.from(ev.delta, 'base64'));
        return;
      case 'response.done':
        this.#onDone(ev.response);
        return;
      case 'error':
        this.#fail(this.#eventError(ev.error));
        return;
      default:
        return;
    }
  }

  #push(bytes: Buffer): void {
    const pcm = this.#s.format === 'pcm';
    const samples = pcm ? this.#decoder.push(bytes) : mulawDecode(bytes);
    if (samples.length === 0) return;
    this.#audioBytes += bytes.length;
    this.#chunks.push({ samples, sampleRateHz: pcm ? PCM_RATE_HZ : PCMU_RATE_HZ });
    this.#queuedBytes += samples.byteLength;
    if (!this.#paused && this.#queuedBytes > HIGH_WATER_BYTES) {
      this.#paused = true;
      this.#ws.pause();
    }
    this.#wakeUp();
  }

  #onDone(response: unknown): void {
    const r = (response ?? {}) as {
      status?: unknown;
      status_details?: { error?: unknown; reason?: unknown };
    };
    if (r.status === 'failed') {
      this.#fail(this.#eventError(r.status_details?.error, 'response failed'));
      return;
    }
    if (r.status === 'cancelled') {
      this.#fail(this.#providerError(`${this.#vendor} realtime response was cancelled`, true));
      return;
    }
    // 'incomplete' (an output limit) still carries the audio that was made: play what there is.
    if (this.#audioBytes === 0) {
      this.#fail(this.#providerError(`${this.#vendor} realtime response carried no audio`, true));
      return;
    }
    this.#done = true;
    this.#wakeUp();
    this.#ws.close(1000);
  }

  /** The upgrade was answered with an HTTP status (401 bad key, 429, 5xx): the same policy as REST. */
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
      const vendorError = parseVendorError(Buffer.concat(parts).toString('utf8'));
      const detail = vendorError.message ? `: ${vendorError.message}` : '';
      const retryAfterMs = parseRetryAfterMs(headers);
      this.#fail(
        new ProviderError(
          this.#vendor,
          this.#scrub(`${this.#vendor} realtime responded ${status}${detail}`),
          {
            status,
            retryable: isRetryableResponse(status, headers, vendorError.code),
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
    if (this.#done) return;
    // 4000 is beta_api_shape_disabled, 1008 a policy refusal: asking again gets the same answer.
    const retryable = !(code >= 4000 || [1002, 1003, 1007, 1008, 1009].includes(code));
    const why = reason === '' ? '' : `: ${reason.slice(0, 200)}`;
    this.#fail(
      this.#providerError(
        `${this.#vendor} realtime connection closed before the speech was complete (code ${code}${why})`,
        retryable,
      ),
    );
  }

  readonly #onAbort = (): void => {
    this.#chunks.length = 0;
    this.#fail(new AbortedError(`${this.#vendor} realtime tts aborted`, { cause: this.#signal.reason }));
  };

  #eventError(error: unknown, fallback = 'error event'): ProviderError {
    const e = (error ?? {}) as { type?: unknown; code?: unknown; message?: unknown };
    const code = typeof e.code === 'string' ? e.code : typeof e.type === 'string' ? e.type : undefined;
    const message = typeof e.message === 'string' && e.message !== '' ? e.message : fallback;
    const retryable =
      e.type === 'server_error' || e.code === 'rate_limit_exceeded' || e.type === 'rate_limit_error';
    const label = code === undefined ? '' : ` (${code})`;
    return this.#providerError(`${this.#vendor} realtime error${label}: ${message}`, retryable);
  }

  #providerError(message: string, retryable: boolean): ProviderError {
    return new ProviderError(this.#vendor, this.#scrub(message), { retryable });
  }

  #fail(err: Error): void {
    if (this.#done || this.#error !== undefined) return;
    this.#error = err;
    this.#wakeUp();
    this.#ws.terminate();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #scrub(text: string): string {
    return scrub(text, secretsOf(this.#s.config));
  }

  #call() {
    return { vendor: this.#vendor, signal: this.#signal, secrets: secretsOf(this.#s.config) };
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
