import type { Clock } from '../core/clock.js';
import type { ChatMessage, LlmProvider, ToolCall, ToolSpec } from '../providers/types.js';
import { createSentenceChunker } from './sentence-chunker.js';

/** A sentence terminator (and closing quotes/brackets), maybe whitespace, at the end of a delta. */
const ENDS_WITH_TERMINATOR = /[.!?…]["'”’)\]]*\s*$/u;

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
  /**
   * Called at most once, before the first sentence, with what the first sentence will be if the next token
   * starts a new one ("Claro. " is complete unless "Claro. e..." follows). Lets TTS start one token early;
   * the chunker's own decision still rules (see reply.ts).
   */
  onProbableFirstSentence?: (sentence: string) => void;
  sentenceStreaming?: boolean;
}): Promise<LlmTurn> {
  const streaming = opts.sentenceStreaming ?? true;
  const started = opts.clock.monotonicMs();
  const chunker = createSentenceChunker({ language: opts.language });
  const parts: string[] = [];
  const turn: LlmTurn = { fullText: '', toolCalls: [], firstTokenMs: null };
  let emitted = 0;
  let guessed = false;
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
      if (!streaming) continue;
      const done = chunker.push(ev.delta);
      for (const s of done) opts.onSentence(s);
      emitted += done.length;
      if (emitted === 0 && !guessed && opts.onProbableFirstSentence && ENDS_WITH_TERMINATOR.test(ev.delta)) {
        // What a fresh chunker makes of the text so far followed by a capital letter: the first sentence if
        // the terminator is not an abbreviation, an initial or a list number.
        const sofar = parts.join('');
        const guess = createSentenceChunker({ language: opts.language }).push(
          /\s$/u.test(sofar) ? `${sofar}A` : `${sofar} A`,
        )[0];
        if (guess !== undefined) {
          guessed = true;
          opts.onProbableFirstSentence(guess);
        }
      }
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
