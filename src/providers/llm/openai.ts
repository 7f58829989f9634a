import { ProviderError } from '../../core/errors.js';
import { openAiHeaders, secretsOf, type OpenAiConfig } from '../openai-compatible.js';
import { post, readBody, readJson, scrub, type HttpCall } from '../transport/http.js';
import { readSse, type SseEvent } from '../transport/sse.js';
import type {
  ChatMessage,
  LlmEvent,
  LlmFinishReason,
  LlmProvider,
  LlmRequest,
  LlmUsage,
  ToolCall,
} from '../types.js';
import { ToolCallAssembler } from './tool-calls.js';

/**
 * Chat completions over SSE for OpenAI and the servers that imitate it. Tolerates their quirks: tool-call
 * deltas without `index`, no `[DONE]` (end of body ends the stream), no usage, no finish_reason.
 */
export function createOpenAiLlm(config: OpenAiConfig): LlmProvider {
  return { info: config.info, stream: (req, signal) => streamChat(config, req, signal) };
}

async function* streamChat(
  config: OpenAiConfig,
  req: LlmRequest,
  signal: AbortSignal,
): AsyncGenerator<LlmEvent> {
  const vendor = config.info.vendor;
  const call: HttpCall = {
    vendor,
    url: `${config.baseUrl}/chat/completions`,
    headers: { ...openAiHeaders(config, 'application/json'), accept: 'text/event-stream' },
    body: JSON.stringify(chatBody(config, req)),
    signal,
    fetch: config.fetch,
    secrets: secretsOf(config),
  };
  const res = await post(call);
  if (res.headers.get('content-type')?.includes('application/json')) {
    yield* wholeCompletion(await readJson(res, call), call);
    return;
  }
  const tools = new ToolCallAssembler();
  let finish: string | undefined;
  let usage: LlmUsage | undefined;
  let toolCallCount = 0;
  for await (const ev of readSse(readBody(res, call))) {
    if (ev.data === '[DONE]') break;
    const chunk = parseChunk(ev, call);
    usage = parseUsage(chunk.usage) ?? parseUsage(chunk.x_groq?.usage) ?? usage;
    for (const choice of chunk.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue;
      const delta = choice.delta;
      if (typeof delta?.content === 'string' && delta.content !== '')
        yield { type: 'text', delta: delta.content };
      if (Array.isArray(delta?.tool_calls)) tools.add(delta.tool_calls);
      if (typeof choice.finish_reason === 'string' && choice.finish_reason !== '') {
        finish = choice.finish_reason;
        for (const tc of tools.complete()) {
          toolCallCount++;
          yield { type: 'tool_call', ...tc };
        }
      }
    }
  }
  for (const tc of tools.complete()) {
    toolCallCount++;
    yield { type: 'tool_call', ...tc };
  }
  yield { type: 'done', finishReason: finishReason(finish, toolCallCount > 0), ...(usage ? { usage } : {}) };
}

/** Some servers ignore `stream: true` (seen with tools set) and answer one chat.completion object. */
function* wholeCompletion(body: unknown, call: HttpCall): Generator<LlmEvent> {
  const parsed = (body ?? {}) as WireChunk & {
    choices?: { message?: { content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[];
  };
  if (parsed.error !== undefined) throw streamError(parsed.error, call);
  const choice = parsed.choices?.[0];
  const content = choice?.message?.content;
  if (typeof content === 'string' && content !== '') yield { type: 'text', delta: content };
  const tools = new ToolCallAssembler();
  const wholeCalls: unknown[] = Array.isArray(choice?.message?.tool_calls) ? choice.message.tool_calls : [];
  // Whole calls are separate even without ids: key them by position.
  tools.add(wholeCalls.map((c, index) => (c !== null && typeof c === 'object' ? { ...c, index } : c)));
  const calls = tools.complete();
  for (const tc of calls) yield { type: 'tool_call', ...tc };
  const raw = typeof choice?.finish_reason === 'string' ? choice.finish_reason : undefined;
  const usage = parseUsage(parsed.usage);
  yield { type: 'done', finishReason: finishReason(raw, calls.length > 0), ...(usage ? { usage } : {}) };
}

function chatBody(config: OpenAiConfig, req: LlmRequest): Record<string, unknown> {
  const messages: unknown[] = req.system === '' ? [] : [{ role: 'system', content: req.system }];
  for (const m of req.messages) messages.push(wireMessage(m));
  const body: Record<string, unknown> = {
    model: config.info.model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
  };
  if (req.tools && req.tools.length > 0) {
    body['tools'] = req.tools.map((t) => ({
      type: 'function',
      function: { name: t.name, description: t.description, parameters: t.parameters },
    }));
  }
  if (req.temperature !== undefined) body['temperature'] = req.temperature;
  // OpenAI renamed max_tokens (and rejects it on reasoning models); the imitators mostly know the old name.
  if (req.maxTokens !== undefined) {
    body[config.info.vendor === 'openai' ? 'max_completion_tokens' : 'max_tokens'] = req.maxTokens;
  }
  return body;
}

function wireMessage(m: ChatMessage): Record<string, unknown> {
  switch (m.role) {
    case 'user':
      return { role: 'user', content: m.content };
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    case 'assistant': {
      const calls = m.toolCalls ?? [];
      if (calls.length === 0) return { role: 'assistant', content: m.content };
      return {
        role: 'assistant',
        content: m.content === '' ? null : m.content,
        tool_calls: calls.map((c: ToolCall) => ({
          id: c.id,
          type: 'function',
          function: { name: c.name, arguments: c.arguments },
        })),
      };
    }
  }
}

interface WireChunk {
  choices?: {
    index?: number;
    delta?: { content?: unknown; tool_calls?: unknown };
    finish_reason?: unknown;
  }[];
  usage?: unknown;
  x_groq?: { usage?: unknown };
  error?: unknown;
}

/** One SSE event as a chunk; `error` objects (named event or field) become ProviderError. */
function parseChunk(ev: SseEvent, call: HttpCall): WireChunk {
  let parsed: unknown;
  try {
    parsed = JSON.parse(ev.data);
  } catch {
    throw new ProviderError(call.vendor, `${call.vendor} sent a malformed stream event`, {
      retryable: false,
    });
  }
  if (parsed === null || typeof parsed !== 'object') {
    throw new ProviderError(call.vendor, `${call.vendor} sent a malformed stream event`, {
      retryable: false,
    });
  }
  const chunk = parsed as WireChunk;
  if (ev.event === 'error' || chunk.error !== undefined) throw streamError(chunk.error ?? parsed, call);
  return chunk;
}

function streamError(e: unknown, call: HttpCall): ProviderError {
  const { message, type, code } = (e ?? {}) as { message?: unknown; type?: unknown; code?: unknown };
  const text = typeof message === 'string' ? message : 'error event';
  // Overload and server faults pass; anything else (bad request, policy) would fail again the same way.
  const transient = ['server_error', 'rate_limit_exceeded', 'overloaded_error', 'api_error'];
  return new ProviderError(call.vendor, scrub(`${call.vendor} stream error: ${text}`, call.secrets), {
    retryable: transient.includes(String(type)) || transient.includes(String(code)),
  });
}

function parseUsage(u: unknown): LlmUsage | undefined {
  if (u === null || typeof u !== 'object') return undefined;
  const { prompt_tokens: p, completion_tokens: c, total_tokens: t } = u as Record<string, unknown>;
  if (typeof p !== 'number' || typeof c !== 'number') return undefined;
  return { promptTokens: p, completionTokens: c, totalTokens: typeof t === 'number' ? t : p + c };
}

const FINISH_REASONS: readonly string[] = ['stop', 'length', 'tool_calls', 'content_filter'];

function finishReason(raw: string | undefined, hadToolCalls: boolean): LlmFinishReason {
  // Some servers (Ollama) say 'stop', or nothing at all, after a tool call.
  if (hadToolCalls && (raw === undefined || raw === 'stop' || raw === 'function_call')) return 'tool_calls';
  if (raw === undefined) return 'stop';
  return FINISH_REASONS.includes(raw) ? (raw as LlmFinishReason) : 'other';
}
