/**
 * What the fake OpenAI server can answer, and how each answer goes on the wire (exact OpenAI shapes: see
 * /work/shared/reference/providers.md §1 and §8).
 */

/**
 * Pacing of a reply: before the status line, and between chunks. Counted from the request's last byte reaching
 * the fake: chunk i is sent at firstByteMs + i * perChunkMs.
 */
export interface FakeLatency {
  firstByteMs?: number;
  perChunkMs?: number;
}

export interface FakeToolCall {
  id?: string;
  name: string;
  /** An object is serialised; a string is sent as is (to script broken JSON). */
  arguments: Record<string, unknown> | string;
}

/** Imitations of OpenAI-compatible servers (Ollama, LM Studio, vLLM …). */
export interface ChatQuirks {
  /** Tool-call deltas without `index` (Ollama #7881). */
  noIndex?: boolean;
  /** Each tool call whole in one delta. */
  wholeToolCalls?: boolean;
  /** Body ends without `data: [DONE]`. */
  noDone?: boolean;
  /** No usage chunk even when asked for. */
  noUsage?: boolean;
  /** finish_reason stays null throughout (no finish chunk). */
  noFinishReason?: boolean;
  /** Lines end in CRLF. */
  crlf?: boolean;
  /** `: keep-alive` comments between events. */
  comments?: boolean;
}

/** Something going wrong after `afterTokens` content chunks of a chat stream. */
export interface ChatFault {
  afterTokens: number;
  type: 'error-data' | 'error-event' | 'malformed' | 'hang' | 'reset';
}

export interface ChatReply {
  type: 'chat';
  /** Split into word tokens unless `tokens` is given. */
  text?: string;
  tokens?: readonly string[];
  toolCalls?: readonly FakeToolCall[];
  finishReason?: string;
  quirks?: ChatQuirks;
  fault?: ChatFault;
  latency?: FakeLatency;
}

export interface SpeechReply {
  type: 'speech';
  /** A 440 Hz tone of this length at 24 kHz, unless `samples` is given. */
  durationMs?: number;
  samples?: Int16Array;
  /** Bytes per network chunk; odd by default so chunks split samples. */
  chunkBytes?: number;
  fault?: { afterBytes: number; type: 'hang' | 'reset' };
  latency?: FakeLatency;
}

export type FakeReply =
  | ChatReply
  | SpeechReply
  | { type: 'transcription'; text: string; language?: string; latency?: FakeLatency }
  /** Vectors as given, else deterministic ones hashed from each input. */
  | { type: 'embeddings'; vectors?: number[][]; latency?: FakeLatency }
  | {
      type: 'error';
      status: number;
      message?: string;
      errorType?: string;
      code?: string | null;
      headers?: Record<string, string>;
      latency?: FakeLatency;
    }
  /** Accept the request and never answer, until the client goes away. */
  | { type: 'hang' }
  /** Destroy the connection without answering. */
  | { type: 'reset' }
  /** Anything at all, chunk by chunk. */
  | {
      type: 'raw';
      status?: number;
      headers?: Record<string, string>;
      chunks: readonly (string | Uint8Array)[];
      latency?: FakeLatency;
    };

/** 429 as OpenAI sends it; `insufficient_quota` is the spent-quota form that must not be retried. */
export function rateLimited(
  retryAfterSeconds?: number,
  code: 'rate_limit_exceeded' | 'insufficient_quota' = 'rate_limit_exceeded',
): FakeReply {
  return {
    type: 'error',
    status: 429,
    message:
      code === 'insufficient_quota'
        ? 'You exceeded your current quota, please check your plan and billing details.'
        : 'Rate limit reached for requests. Please try again in 1s.',
    errorType: code === 'insufficient_quota' ? 'insufficient_quota' : 'requests',
    code,
    headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  };
}

export function serverError(status = 500): FakeReply {
  return {
    type: 'error',
    status,
    message: 'The server had an error while processing your request. Sorry about that!',
    errorType: 'server_error',
    code: null,
  };
}

/** A 440 Hz tone, mono s16. */
export function tone(durationMs: number, sampleRateHz = 24_000): Int16Array {
  const out = new Int16Array(Math.round((durationMs / 1000) * sampleRateHz));
  for (let i = 0; i < out.length; i++)
    out[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / sampleRateHz));
  return out;
}

/** Little-endian bytes of `samples`, whatever the host's byte order. */
export function pcmBytes(samples: Int16Array): Buffer {
  const buf = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => buf.writeInt16LE(s, i * 2));
  return buf;
}

/** Deterministic unit vector for `text`: the same text always embeds the same, different texts differ. */
export function hashVector(text: string, dimensions: number): number[] {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  const v: number[] = [];
  for (let i = 0; i < dimensions; i++) {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    v.push((h / 0xffffffff) * 2 - 1);
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

/** Word tokens, spaces kept on the token before them: 'Olá, tudo bem?' → ['Olá, ', 'tudo ', 'bem?']. */
export function wordTokens(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** The SSE events of a chat reply, in order, as `data:` payloads (objects) or literal SSE text (strings). */
export function chatEvents(
  reply: ChatReply,
  request: { model?: unknown; includeUsage: boolean },
): ChatEvent[] {
  const q = reply.quirks ?? {};
  const id = 'chatcmpl-fake';
  const created = 1_700_000_000;
  const model = typeof request.model === 'string' ? request.model : 'gpt-4o-mini';
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): ChatEvent => ({
    kind: 'data',
    json: {
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      system_fingerprint: 'fp_fake',
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(request.includeUsage ? { usage: null } : {}),
    },
  });
  const tokens = reply.tokens ?? wordTokens(reply.text ?? '');
  const calls = reply.toolCalls ?? [];
  const events: ChatEvent[] = [];
  events.push(
    chunk({ role: 'assistant', content: tokens.length === 0 && calls.length > 0 ? null : '', refusal: null }),
  );
  tokens.forEach((t, i) => {
    if (reply.fault?.afterTokens === i) events.push({ kind: 'fault', fault: reply.fault.type });
    events.push(chunk({ content: t }));
  });
  if (reply.fault !== undefined && reply.fault.afterTokens >= tokens.length) {
    events.push({ kind: 'fault', fault: reply.fault.type });
  }
  calls.forEach((call, i) => {
    const callId = call.id ?? `call_fake_${i}`;
    const args = typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments);
    const index = q.noIndex ? {} : { index: i };
    const head = { ...index, id: callId, type: 'function', function: { name: call.name, arguments: '' } };
    if (q.wholeToolCalls) {
      events.push(chunk({ tool_calls: [{ ...head, function: { name: call.name, arguments: args } }] }));
      return;
    }
    events.push(chunk({ tool_calls: [head] }));
    // At least three fragments, cut at arbitrary points (inside keys and values alike).
    const step = Math.max(1, Math.ceil(args.length / 3));
    for (let at = 0; at < args.length; at += step) {
      events.push(chunk({ tool_calls: [{ ...index, function: { arguments: args.slice(at, at + step) } }] }));
    }
  });
  if (!q.noFinishReason)
    events.push(chunk({}, reply.finishReason ?? (calls.length > 0 ? 'tool_calls' : 'stop')));
  if (request.includeUsage && !q.noUsage) {
    const completion = tokens.length + calls.length * 10;
    events.push({
      kind: 'data',
      json: {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_fake',
        choices: [],
        usage: { prompt_tokens: 42, completion_tokens: completion, total_tokens: 42 + completion },
      },
    });
  }
  if (!q.noDone) events.push({ kind: 'done' });
  return events;
}

export type ChatEvent =
  { kind: 'data'; json: unknown } | { kind: 'done' } | { kind: 'fault'; fault: ChatFault['type'] };

const STREAM_ERROR = {
  error: {
    message: 'The server had an error while processing your request.',
    type: 'server_error',
    param: null,
    code: null,
  },
};

/** SSE text of one event (faults that write something included); undefined for hang/reset faults. */
export function sseText(ev: ChatEvent, quirks: ChatQuirks): string | undefined {
  let text: string | undefined;
  if (ev.kind === 'data') text = `data: ${JSON.stringify(ev.json)}\n\n`;
  else if (ev.kind === 'done') text = 'data: [DONE]\n\n';
  else if (ev.fault === 'error-data') text = `data: ${JSON.stringify(STREAM_ERROR)}\n\n`;
  else if (ev.fault === 'error-event') text = `event: error\ndata: ${JSON.stringify(STREAM_ERROR)}\n\n`;
  else if (ev.fault === 'malformed') text = 'data: {"id":"chatcmpl-fake","choices":[{"delta":{"content":\n\n';
  if (text === undefined) return undefined;
  if (quirks.comments) text = `: keep-alive\n\n${text}`;
  return quirks.crlf ? text.replace(/\n/g, '\r\n') : text;
}
