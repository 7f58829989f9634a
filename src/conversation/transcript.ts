import { randomUUID } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { ConversationResolution, MediaBackend, MessageRole, QueuedRow } from '../store/rows.js';

export type MessageLatency = Partial<
  Record<'stt_provider' | 'llm_provider' | 'tts_provider', string> &
    Record<'stt_ms' | 'llm_first_token_ms' | 'tts_first_byte_ms' | 'turn_ms', number | null> & {
      interrupted: boolean;
    }
>;

/**
 * The rows of one conversation, handed to the write queue as they happen: the start, every message (numbered
 * in order, with its turn and latency) and the end. Shared by phone calls and the text console, so both
 * leave the same history behind.
 */
export class Transcript {
  readonly conversationUuid = randomUUID();
  readonly startedAt: Date;
  #seq = 0;
  readonly #sink: { enqueue(item: QueuedRow): unknown };
  readonly #clock: Clock;
  readonly #domainUuid: string;

  constructor(
    sink: { enqueue(item: QueuedRow): unknown },
    clock: Clock,
    start: {
      domainUuid: string;
      secretaryUuid: string;
      callUuid: string;
      caller: { number: string | null; name: string | null; destination: string | null };
      processingMode: 'turn_based' | 'realtime' | 'auto';
    },
  ) {
    this.#sink = sink;
    this.#clock = clock;
    this.#domainUuid = start.domainUuid;
    this.startedAt = new Date(clock.now());
    sink.enqueue({
      type: 'conversation_start',
      row: {
        conversation_uuid: this.conversationUuid,
        domain_uuid: start.domainUuid,
        secretary_uuid: start.secretaryUuid,
        call_uuid: start.callUuid,
        caller_id: start.caller.number,
        caller_id_name: start.caller.name,
        destination_number: start.caller.destination,
        processing_mode: start.processingMode,
        started_at: this.startedAt.toISOString(),
      },
    });
  }

  message(turn: number, role: MessageRole, content: string, extra: MessageLatency = {}): void {
    this.#sink.enqueue({
      type: 'message',
      row: {
        message_uuid: randomUUID(),
        conversation_uuid: this.conversationUuid,
        domain_uuid: this.#domainUuid,
        turn,
        seq: this.#seq++,
        role,
        content,
        stt_provider: extra.stt_provider ?? null,
        llm_provider: extra.llm_provider ?? null,
        tts_provider: extra.tts_provider ?? null,
        stt_ms: ms(extra.stt_ms),
        llm_first_token_ms: ms(extra.llm_first_token_ms),
        tts_first_byte_ms: ms(extra.tts_first_byte_ms),
        turn_ms: ms(extra.turn_ms),
        interrupted: extra.interrupted ?? false,
        created_at: new Date(this.#clock.now()).toISOString(),
      },
    });
  }

  end(
    resolution: ConversationResolution,
    totalTurns: number,
    transferredTo: string | null,
    mediaBackend: MediaBackend | null,
  ): void {
    const endedAt = new Date(this.#clock.now());
    this.#sink.enqueue({
      type: 'conversation_end',
      row: {
        conversation_uuid: this.conversationUuid,
        domain_uuid: this.#domainUuid,
        ended_at: endedAt.toISOString(),
        duration_seconds: Math.max(0, Math.round((endedAt.getTime() - this.startedAt.getTime()) / 1000)),
        total_turns: totalTurns,
        resolution,
        transferred_to: transferredTo,
        media_backend: mediaBackend,
      },
    });
  }
}

/** Latency columns are integers: round here, once, whatever clock produced them. */
function ms(v: number | null | undefined): number | null {
  return v === null || v === undefined || !Number.isFinite(v) ? null : Math.max(0, Math.round(v));
}
