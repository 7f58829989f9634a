import type { Clock } from '../core/clock.js';
import type { ChatMessage, LlmProvider, ToolCall, ToolSpec } from '../providers/types.js';
import { createSentenceChunker } from './sentence-chunker.js';

export interface LlmTurn {
  fullText: string;
  toolCalls: ToolCall[];
  /** From the request to the first text or tool call; null when the model said nothing. */
  firstTokenMs: number | null;
}

/**
 * Streams one LLM reply and hands each sentence out the moment the chunker knows it is complete (or, with
 * `sentenceStreaming: false`, the whole reply at the end). Calls and the text console both speak through this.
 */
export async function streamLlmSentences(opts: {
  llm: LlmProvider;
  system: string;
  history: readonly ChatMessage[];
  tools: readonly ToolSpec[];
  language: string;
  signal: AbortSignal;
  clock: Clock;
  onSentence: (sentence: string) => void;
  sentenceStreaming?: boolean;
}): Promise<LlmTurn> {
  const streaming = opts.sentenceStreaming ?? true;
  const started = opts.clock.monotonicMs();
  const chunker = createSentenceChunker({ language: opts.language });
  const parts: string[] = [];
  const turn: LlmTurn = { fullText: '', toolCalls: [], firstTokenMs: null };
  const mark = (): void => {
    if (turn.firstTokenMs === null) turn.firstTokenMs = opts.clock.monotonicMs() - started;
  };
  for await (const ev of opts.llm.stream(
    { system: opts.system, messages: [...opts.history], tools: opts.tools },
    opts.signal,
  )) {
    if (ev.type === 'text') {
      mark();
      parts.push(ev.delta);
      if (streaming) for (const s of chunker.push(ev.delta)) opts.onSentence(s);
    } else if (ev.type === 'tool_call') {
      mark();
      turn.toolCalls.push({ id: ev.id, name: ev.name, arguments: ev.arguments });
    }
  }
  turn.fullText = parts.join('').trim();
  if (streaming) for (const s of chunker.flush()) opts.onSentence(s);
  else if (turn.fullText !== '') opts.onSentence(turn.fullText);
  return turn;
}
