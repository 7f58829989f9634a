import path from 'node:path';
import type { Logger } from 'pino';
import { delay } from '../core/abort.js';
import { AsyncQueue } from '../core/async-queue.js';
import type { Clock } from '../core/clock.js';
import { AbortedError, isAbort } from '../core/errors.js';
import type { ChatMessage, LlmProvider, ToolSpec, TtsProvider } from '../providers/types.js';
import type { Media } from './media.js';
import { streamLlmSentences } from './llm-turn.js';
import { toSpeakable } from './sentence-chunker.js';
import { synthesizeToFile, type SynthesisResult } from './speech.js';

export interface ReplyRequest {
  llm: LlmProvider;
  /** Absent when the media does not speak: sentences are then played as text. */
  tts?: TtsProvider;
  media: Media;
  system: string;
  history: readonly ChatMessage[];
  tools: ToolSpec[];
  language: string;
  voice?: string;
  /** Where this turn's sentence files go (the call's own directory). */
  dir: string;
  turn: number;
  /** The caller's end of speech (monotonic ms): turn_ms counts from here to the first reply sentence playing. */
  speechEndedAt: number;
  /** Plays "one moment" if nothing has started playing this long after the caller's end of speech. */
  fillerAfterMs: number;
  /** The filler phrase and its file; without it there is no filler. */
  filler?: { text: string; file: () => Promise<string> };
  signal: AbortSignal;
  clock: Clock;
  log: Logger;
  /**
   * Synthesize each sentence as soon as it is complete (default). False waits for the whole reply and
   * synthesizes it as one file: the benchmark's baseline, never what a caller should hear.
   */
  sentenceStreaming?: boolean;
}

interface Speculation {
  text: string;
  file: string;
  result: Promise<SynthesisResult>;
  cancel: () => void;
}

export interface Reply {
  /** The sentences the caller actually heard (a terminator digit cuts the rest). */
  spokenText: string;
  fullText: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  /** Sentences of the reply that were played (an interrupted one counts). */
  sentences: number;
  terminator?: string;
  /** The caller spoke over the reply (barge-in): `spokenText` ends where they cut in. */
  interrupted: boolean;
  llmFirstTokenMs: number | null;
  ttsFirstByteMs: number | null;
  turnMs: number | null;
}

/**
 * One assistant reply, streamed three stages deep: LLM deltas → sentence chunker → TTS per sentence → playback.
 * The first sentence plays while the LLM is still writing the rest. A DTMF terminator stops playback and
 * cancels whatever is still being generated; a failure in any stage cancels the others and is rethrown.
 */
export async function streamReply(req: ReplyRequest): Promise<Reply> {
  const turnCtl = new AbortController();
  const signal = AbortSignal.any([req.signal, turnCtl.signal]);
  const sentences = new AsyncQueue<string>();
  const files = new AsyncQueue<{ file?: string; text: string }>();
  const reply: Reply = {
    spokenText: '',
    fullText: '',
    toolCalls: [],
    sentences: 0,
    interrupted: false,
    llmFirstTokenMs: null,
    ttsFirstByteMs: null,
    turnMs: null,
  };
  const spoken: string[] = [];
  let failure: Error | undefined;
  const fail = (err: unknown): void => {
    if (failure === undefined && !(isAbort(err) && turnCtl.signal.aborted)) {
      failure = err instanceof Error ? err : new Error(String(err));
    }
    turnCtl.abort(err);
    sentences.fail(err);
    files.fail(err);
  };

  const llmStage = async (): Promise<void> => {
    const turn = await streamLlmSentences({
      llm: req.llm,
      system: req.system,
      history: req.history,
      tools: req.tools,
      language: req.language,
      signal,
      clock: req.clock,
      onSentence: (text) => sentences.push(text),
      onProbableFirstSentence: (text) => {
        if (req.tts === undefined) return;
        speculative = synthesize(req.tts, text, 0);
        speculative.result.catch(() => undefined);
      },
      ...(req.sentenceStreaming === undefined ? {} : { sentenceStreaming: req.sentenceStreaming }),
    });
    reply.fullText = turn.fullText;
    reply.toolCalls = turn.toolCalls;
    reply.llmFirstTokenMs = turn.firstTokenMs;
    sentences.close();
  };

  /** Synthesizes one sentence into this turn's `index`-th file; cancellable on its own (a wrong guess). */
  const synthesize = (tts: TtsProvider, text: string, index: number, suffix = ''): Speculation => {
    const ctl = new AbortController();
    const file = path.join(req.dir, `turn-${req.turn}-${index}${suffix}.wav`);
    const result = synthesizeToFile(tts, toSpeakable(text), {
      file,
      rateHz: req.media.sampleRateHz,
      language: req.language,
      signal: AbortSignal.any([signal, ctl.signal]),
      clock: req.clock,
      durable: false,
      ...(req.voice === undefined ? {} : { voice: req.voice }),
    });
    return { text, file, result, cancel: () => ctl.abort() };
  };
  // The first sentence's TTS may start one token before the chunker confirms it (see llm-turn.ts); it is used
  // only if the chunker's first sentence is exactly that text.
  let speculative: Speculation | undefined;

  const ttsStage = async (): Promise<void> => {
    let i = 0;
    for await (const text of sentences) {
      if (toSpeakable(text).trim() === '') continue;
      if (req.tts === undefined) {
        files.push({ text });
        continue;
      }
      let job: Speculation;
      if (i === 0 && speculative?.text === text) {
        job = speculative;
      } else {
        if (i === 0 && speculative) speculative.cancel();
        job = synthesize(req.tts, text, i, i === 0 && speculative ? 'r' : '');
      }
      i++;
      const r = await job.result;
      if (reply.ttsFirstByteMs === null) reply.ttsFirstByteMs = r.firstByteMs;
      files.push({ file: job.file, text });
    }
    speculative?.cancel();
    files.close();
  };

  const playStage = async (): Promise<void> => {
    let next = files.next();
    // Dead air guard: if the first sentence is slow (slow STT/LLM/TTS), say "one moment" instead of silence.
    const waitMs = req.fillerAfterMs - (req.clock.monotonicMs() - req.speechEndedAt);
    const timer = new AbortController();
    const first = await Promise.race([
      next.then(() => 'ready' as const),
      delay(Math.max(0, waitMs), AbortSignal.any([signal, timer.signal])).then(
        () => 'slow' as const,
        () => 'ready' as const,
      ),
    ]).finally(() => timer.abort());
    if (first === 'slow' && req.filler !== undefined) {
      const filler = await req.filler.file().catch((err: unknown) => {
        if (!isAbort(err)) req.log.warn({ err }, 'filler prompt unavailable');
        return undefined;
      });
      if (filler !== undefined) {
        const r = await req.media.play({ text: req.filler.text, file: filler, phrase: true }, signal);
        if (r.digit !== undefined) {
          reply.terminator = r.digit;
          turnCtl.abort(new AbortedError('terminator'));
          return;
        }
        if (r.status === 'interrupted') {
          // The caller spoke over "one moment": what they say now is the next turn.
          reply.interrupted = true;
          turnCtl.abort(new AbortedError('barge-in'));
          return;
        }
      }
    }
    for (;;) {
      const item = await next;
      if (item.done) return;
      if (reply.turnMs === null)
        reply.turnMs = Math.max(0, Math.round(req.clock.monotonicMs() - req.speechEndedAt));
      const { file, text } = item.value;
      const r = await req.media.play(file === undefined ? { text } : { text, file }, signal);
      if (r.digit !== undefined) {
        spoken.push(text);
        reply.terminator = r.digit;
        turnCtl.abort(new AbortedError('terminator'));
        return;
      }
      if (r.status === 'interrupted') {
        // Barge-in: the caller heard this sentence up to where they cut in; the rest of the reply is dropped.
        const heard = heardPart(text, r.playedMs, r.durationMs);
        if (heard !== '') spoken.push(heard);
        reply.interrupted = true;
        turnCtl.abort(new AbortedError('barge-in'));
        return;
      }
      spoken.push(text);
      next = files.next();
    }
  };

  await Promise.all(
    [llmStage(), ttsStage(), playStage()].map((p) =>
      p.catch((err: unknown) => {
        fail(err);
      }),
    ),
  );
  reply.spokenText = spoken.join(' ');
  reply.sentences = spoken.length;
  if (req.signal.aborted)
    throw req.signal.reason instanceof Error ? req.signal.reason : new AbortedError('call ended');
  if (failure !== undefined && reply.terminator === undefined && !reply.interrupted) throw failure;
  return reply;
}

/**
 * The words of `text` a caller heard in `playedMs` of its `durationMs`, with an ellipsis when cut; the whole
 * sentence when the length is unknown (better to keep a word too many in the history than lose the sentence).
 */
export function heardPart(text: string, playedMs: number, durationMs: number | undefined): string {
  if (durationMs === undefined || durationMs <= 0) return text;
  const share = Math.max(0, Math.min(1, playedMs / durationMs));
  if (share >= 0.95) return text;
  const words = text.split(/\s+/).filter((w) => w !== '');
  const n = Math.floor(words.length * share);
  return n === 0 ? '' : `${words.slice(0, n).join(' ')}…`;
}
