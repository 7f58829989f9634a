import type postgres from 'postgres';

/**
 * Row types of the voice-ai tables, exactly as postgres.js returns them (snake_case columns, no transform):
 * uuid/text → string, timestamptz → Date, jsonb → parsed JSON, integer → number, real[] → number[].
 */

/** Anything queries can run on: the pool, a reserved connection or a transaction. */
export type Db = postgres.Sql | postgres.TransactionSql;

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export const PROVIDER_TYPES = ['stt', 'tts', 'llm', 'embeddings', 'realtime'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];
export type ProcessingMode = 'turn_based' | 'realtime' | 'auto';
/** The media a conversation ran on (v_voice_conversations.media_backend, migration 011_media). */
export type MediaBackend = 'files' | 'unicast' | 'audio_stream' | 'text';

/** FusionPBX's v_domains (read only; FusionPBX owns it). */
export interface DomainRow {
  domain_uuid: string;
  domain_name: string | null;
  domain_enabled: boolean | null;
}

/** Provider secrets in clear: API keys, tokens. Only ever held in memory. */
export type ProviderSecrets = Record<string, string>;

/** v_voice_ai_providers as listed: the encrypted secrets never leave the database, only whether there are any. */
export interface ProviderRow {
  provider_uuid: string;
  domain_uuid: string;
  provider_type: ProviderType;
  provider_name: string;
  config: JsonObject;
  has_secrets: boolean;
  is_default: boolean;
  is_enabled: boolean;
  priority: number;
  created_at: Date;
  updated_at: Date;
}

export interface ProviderWithSecrets extends ProviderRow {
  /** Decrypted; null when the row has none. */
  secrets: ProviderSecrets | null;
}

export interface SecretaryRow {
  secretary_uuid: string;
  domain_uuid: string;
  name: string;
  extension: string;
  processing_mode: ProcessingMode;
  system_prompt: string;
  greeting: string;
  farewell: string;
  language: string;
  voice: string | null;
  stt_provider_uuid: string | null;
  tts_provider_uuid: string | null;
  llm_provider_uuid: string | null;
  realtime_provider_uuid: string | null;
  embeddings_provider_uuid: string | null;
  is_enabled: boolean;
  max_turns: number;
  max_silent_turns: number;
  record_max_seconds: number;
  silence_threshold: number;
  silence_seconds: number;
  idle_timeout_seconds: number;
  max_call_seconds: number;
  transfer_extension: string | null;
  timezone: string;
  /** The media backend a full-duplex call asks for; null takes VOICE_AI_MEDIA (migration 011_media). */
  media: SecretaryMedia | null;
  created_at: Date;
  updated_at: Date;
}

export type SecretaryMedia = 'auto' | 'files' | 'unicast' | 'audio_stream';

/** A secretary with the names of the providers it points at (null when unset or not in its domain). */
export interface SecretaryWithProviders extends SecretaryRow {
  stt_provider_name: string | null;
  tts_provider_name: string | null;
  llm_provider_name: string | null;
  realtime_provider_name: string | null;
  embeddings_provider_name: string | null;
}

export type Resolution =
  'completed' | 'transferred' | 'caller_hangup' | 'max_turns' | 'silence' | 'timeout' | 'error' | 'drained';

export interface ConversationRow {
  conversation_uuid: string;
  domain_uuid: string;
  secretary_uuid: string | null;
  call_uuid: string;
  caller_id: string | null;
  caller_id_name: string | null;
  destination_number: string | null;
  processing_mode: ProcessingMode;
  started_at: Date;
  ended_at: Date | null;
  duration_seconds: number | null;
  total_turns: number;
  resolution: Resolution | null;
  transferred_to: string | null;
  media_backend: MediaBackend | null;
  created_at: Date;
}

export interface ConversationSummary extends ConversationRow {
  message_count: number;
}

export type MessageRole = 'user' | 'assistant' | 'system' | 'tool';

export interface MessageRow {
  message_uuid: string;
  conversation_uuid: string;
  domain_uuid: string;
  turn: number;
  seq: number;
  role: MessageRole;
  content: string;
  stt_provider: string | null;
  llm_provider: string | null;
  tts_provider: string | null;
  stt_ms: number | null;
  llm_first_token_ms: number | null;
  tts_first_byte_ms: number | null;
  turn_ms: number | null;
  /** The caller cut this reply short; `content` is what they heard (migration 011_media). */
  interrupted: boolean;
  created_at: Date;
}

export type DocumentStatus = 'pending' | 'ready' | 'failed';

export interface DocumentRow {
  voice_document_uuid: string;
  domain_uuid: string;
  secretary_uuid: string | null;
  document_name: string;
  mime_type: string;
  content_sha256: string | null;
  chunk_count: number;
  status: DocumentStatus;
  is_enabled: boolean;
  created_at: Date;
  updated_at: Date;
}

/** v_voice_document_chunks without the optional pgvector column (real[] `embedding` is the portable one). */
export interface DocumentChunkRow {
  voice_document_chunk_uuid: string;
  voice_document_uuid: string;
  domain_uuid: string;
  chunk_index: number;
  content: string;
  token_count: number | null;
  embedding: number[] | null;
  embedding_model: string | null;
  created_at: Date;
}

export type DestinationType = 'extension' | 'ring_group' | 'queue' | 'voicemail' | 'external';
export type FallbackAction = 'voicemail' | 'operator' | 'message' | 'hangup';

export interface TransferRuleRow {
  voice_transfer_rule_uuid: string;
  domain_uuid: string;
  secretary_uuid: string | null;
  department: string;
  keywords: string[];
  destination_type: DestinationType;
  destination_number: string;
  destination_context: string | null;
  priority: number;
  business_hours: JsonObject | null;
  fallback_action: FallbackAction;
  fallback_destination: string | null;
  is_enabled: boolean;
  created_at: Date;
  updated_at: Date;
}
