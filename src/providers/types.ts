/**
 * The small interfaces every AI vendor adapter implements, and the plain row they are built from. Wrappers
 * (timeout, retry, fallback, metrics) implement the same interfaces, so callers never know what is behind.
 */

export type ProviderKind = 'stt' | 'tts' | 'llm' | 'embeddings' | 'realtime';

/** Identity of a provider: who it is, for logs, metrics and the per-turn latency record. */
export interface ProviderInfo {
  /** The row's provider_name: 'openai', 'groq', 'ollama', … */
  readonly vendor: string;
  readonly kind: ProviderKind;
  readonly model: string;
  readonly providerUuid?: string;
}

/** Mono 16-bit PCM at a declared rate. */
export interface PcmAudio {
  readonly samples: Int16Array;
  readonly sampleRateHz: number;
}

export interface TranscribeOptions {
  /** BCP 47 ('pt-BR') or ISO-639-1 ('pt'); adapters convert to what their vendor wants. */
  language?: string;
  /** Vocabulary hint (names, products) for the recogniser. */
  prompt?: string;
}

export interface Transcript {
  text: string;
  /** The language the vendor reports, when it reports one. */
  language?: string;
  /** Length of the audio that was transcribed. */
  durationMs?: number;
}

export interface SttProvider {
  readonly info: ProviderInfo;
  /** Transcribes one whole utterance. */
  transcribe(audio: PcmAudio, opts: TranscribeOptions, signal: AbortSignal): Promise<Transcript>;
  /**
   * Opens a live recognition stream (vendors with a streaming API: Deepgram live and Flux). Resolves once the
   * vendor accepted the stream; rejects with a ProviderError when it cannot be opened. Aborting `signal` closes
   * the stream and ends its events.
   */
  stream?(opts: SttStreamOptions, signal: AbortSignal): Promise<SttStream>;
}

export interface SttStreamOptions extends TranscribeOptions {
  /** Rate of the frames that will be written (8000 or 16000). */
  sampleRateHz: number;
  /** Trailing silence after which the vendor should end the utterance, when it endpoints itself. */
  endpointingMs?: number;
}

/** What a live stream reports. Times are milliseconds of audio written since the stream opened. */
export type SttEvent =
  /** The vendor heard speech begin (Deepgram SpeechStarted, Flux StartOfTurn). */
  | { type: 'speech_started'; atMs: number }
  /** A provisional transcript of the utterance so far; later events replace it. */
  | { type: 'partial'; text: string }
  /**
   * A stable piece of the utterance (Deepgram is_final). `endOfTurn` when the vendor says the caller finished
   * (speech_final, UtteranceEnd, Flux EndOfTurn); `text` is then the whole turn's transcript.
   */
  | { type: 'final'; text: string; endOfTurn: boolean; atMs?: number };

export interface SttStream {
  /** Queues one frame of L16 samples at the stream's rate; never blocks (bounded: drops oldest past ~2 s). */
  write(frame: Int16Array): void;
  /** Asks the vendor to finish the current utterance now (Deepgram Finalize). */
  finalize(): void;
  /** Events until the stream closes; ends normally after close(), throws a ProviderError on a vendor failure. */
  readonly events: AsyncIterable<SttEvent>;
  /** Flushes and closes (CloseStream), waiting at most a few seconds; idempotent. */
  close(): Promise<void>;
}

export interface ToolCall {
  id: string;
  name: string;
  /** Complete JSON text of the arguments, as the model wrote it. */
  arguments: string;
}

export type ChatMessage =
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string; toolCalls?: readonly ToolCall[] }
  | { role: 'tool'; toolCallId: string; content: string };

export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Readonly<Record<string, unknown>>;
}

export interface LlmRequest {
  system: string;
  messages: readonly ChatMessage[];
  tools?: readonly ToolSpec[];
  temperature?: number;
  maxTokens?: number;
}

export type LlmFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'other';

export interface LlmUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export type LlmEvent =
  | { type: 'text'; delta: string }
  /** Emitted once the call is complete (assembled from the vendor's deltas). */
  | ({ type: 'tool_call' } & ToolCall)
  | { type: 'done'; finishReason: LlmFinishReason; usage?: LlmUsage };

export interface LlmProvider {
  readonly info: ProviderInfo;
  /** Streams one completion; the caller owns the history. Ends with exactly one 'done' event. */
  stream(req: LlmRequest, signal: AbortSignal): AsyncIterable<LlmEvent>;
}

export interface SynthesizeOptions {
  voice?: string;
  language?: string;
}

export interface TtsProvider {
  readonly info: ProviderInfo;
  /** Streams PCM chunks as the vendor produces them; every chunk holds whole samples. */
  synthesize(text: string, opts: SynthesizeOptions, signal: AbortSignal): AsyncIterable<PcmAudio>;
}

export interface EmbeddingsProvider {
  readonly info: ProviderInfo;
  /** Vector length, when known from config or the model. */
  readonly dimensions?: number;
  /** One vector per text, in the order given. */
  embed(texts: readonly string[], signal: AbortSignal): Promise<number[][]>;
}

/** The provider interfaces built by the registry, by kind. Realtime sessions are not built here yet. */
export interface ProviderByKind {
  stt: SttProvider;
  tts: TtsProvider;
  llm: LlmProvider;
  embeddings: EmbeddingsProvider;
}

export type BuildableKind = keyof ProviderByKind;
export type AnyProvider = ProviderByKind[BuildableKind];

/**
 * A v_voice_ai_providers row as the store hands it over, secrets already decrypted. Only ever held in memory.
 */
export interface ProviderRow {
  provider_uuid: string;
  domain_uuid: string;
  provider_type: string;
  provider_name: string;
  config: Readonly<Record<string, unknown>>;
  secrets: Readonly<Record<string, string>> | null;
  is_default: boolean;
  is_enabled?: boolean;
  priority: number;
}
