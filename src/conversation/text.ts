import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Clock } from '../core/clock.js';
import type { ChatMessage, LlmProvider, ToolCall, TtsProvider } from '../providers/types.js';
import { servedBy } from '../providers/wrap/fallback.js';
import type { ConversationResolution, QueuedRow } from '../store/rows.js';
import { streamLlmSentences } from './llm-turn.js';
import { buildSystemPrompt, phrasesFor } from './prompts.js';
import { toSpeakable } from './sentence-chunker.js';
import type { SecretaryProfile } from './session.js';
import { synthesizeToFile } from './speech.js';
import { actionFor, conversationTools, type ToolAction } from './tools.js';
import { Transcript } from './transcript.js';

export interface TextReply {
  text: string;
  sentences: string[];
  toolCalls: ToolCall[];
  /** What the call would do next: nothing, hang up (end_call) or transfer to the operator. */
  action: ToolAction;
  llmFirstTokenMs: number | null;
  totalMs: number;
  /** With a TTS provider: one WAV per sentence. */
  audio: { file: string; durationMs: number; firstByteMs: number }[];
}

export interface TextConversationOptions {
  secretary: SecretaryProfile;
  llm: LlmProvider;
  sink: { enqueue(item: QueuedRow): unknown };
  clock: Clock;
  /** Also synthesize every sentence to a WAV in `dir` (the console's --say). */
  tts?: { provider: TtsProvider; dir: string; rateHz: number };
  /** Stands in for the call uuid on the conversation row. */
  label?: string;
}

/**
 * A conversation with a secretary in text: the same system prompt, tools, history, sentence streaming and
 * rows as a phone call, without STT (the caller types) and optionally without TTS. Used by `voice-ai chat`
 * and the offline demo.
 */
export class TextConversation {
  readonly greeting: string;
  readonly transcript: Transcript;
  #turn = 0;
  readonly #opts: TextConversationOptions;
  readonly #history: ChatMessage[] = [];
  readonly #system: string;
  readonly #canTransfer: boolean;

  constructor(opts: TextConversationOptions) {
    this.#opts = opts;
    const sec = opts.secretary;
    this.transcript = new Transcript(opts.sink, opts.clock, {
      domainUuid: sec.domainUuid,
      secretaryUuid: sec.secretaryUuid,
      callUuid: opts.label ?? `chat-${randomUUID()}`,
      caller: { number: null, name: 'voice-ai chat', destination: null },
      processingMode: sec.processingMode,
    });
    this.#canTransfer = sec.transferExtension !== undefined;
    this.#system = buildSystemPrompt({
      secretaryName: sec.name,
      systemPrompt: sec.systemPrompt,
      language: sec.language,
      canTransfer: this.#canTransfer,
      now: this.transcript.startedAt,
      timezone: sec.timezone,
    });
    this.greeting = sec.greeting || phrasesFor(sec.language).greeting;
    this.transcript.message(0, 'assistant', this.greeting);
  }

  get turns(): number {
    return this.#turn;
  }

  /** The secretary's reply to one caller line; `onSentence` sees each sentence as soon as it is complete. */
  async send(text: string, signal: AbortSignal, onSentence?: (s: string) => void): Promise<TextReply> {
    const { clock, llm, secretary: sec } = this.#opts;
    const started = clock.monotonicMs();
    this.#turn++;
    this.transcript.message(this.#turn, 'user', text);
    this.#history.push({ role: 'user', content: text });
    const sentences: string[] = [];
    const synth: Promise<TextReply['audio'][number]>[] = [];
    const tts = this.#opts.tts;
    const turn = await streamLlmSentences({
      llm,
      system: this.#system,
      history: this.#history,
      tools: conversationTools(this.#canTransfer),
      language: sec.language,
      signal,
      clock,
      onSentence: (s) => {
        sentences.push(s);
        onSentence?.(s);
        if (tts) {
          const file = path.join(tts.dir, `turn-${this.#turn}-${synth.length}.wav`);
          synth.push(
            synthesizeToFile(tts.provider, toSpeakable(s), {
              file,
              rateHz: tts.rateHz,
              language: sec.language,
              signal,
              clock,
              ...(sec.voice ? { voice: sec.voice } : {}),
            }),
          );
        }
      },
    });
    const audio = await Promise.all(synth);
    const reply = sentences.join(' ');
    if (reply !== '') {
      this.#history.push({ role: 'assistant', content: reply });
      this.transcript.message(this.#turn, 'assistant', reply, {
        llm_provider: servedBy(llm).vendor,
        llm_first_token_ms: turn.firstTokenMs,
        ...(tts
          ? { tts_provider: servedBy(tts.provider).vendor, tts_first_byte_ms: audio[0]?.firstByteMs ?? null }
          : {}),
      });
    }
    for (const call of turn.toolCalls) {
      this.transcript.message(
        this.#turn,
        'tool',
        JSON.stringify({ name: call.name, arguments: call.arguments }),
      );
    }
    return {
      text: reply,
      sentences,
      toolCalls: turn.toolCalls,
      action: actionFor(
        turn.toolCalls.map((c) => c.name),
        this.#canTransfer,
      ),
      llmFirstTokenMs: turn.firstTokenMs,
      totalMs: clock.monotonicMs() - started,
      audio: audio.map((a) => ({ file: a.file, durationMs: a.durationMs, firstByteMs: a.firstByteMs })),
    };
  }

  end(resolution: ConversationResolution, transferredTo: string | null = null): void {
    this.transcript.end(resolution, this.#turn, transferredTo);
  }
}
