-- Every utterance of a conversation, with the latency of the turn that produced it.
CREATE TABLE IF NOT EXISTS v_voice_messages (
  voice_message_uuid       uuid PRIMARY KEY,
  voice_conversation_uuid  uuid NOT NULL REFERENCES v_voice_conversations (voice_conversation_uuid) ON DELETE CASCADE,
  domain_uuid              uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  turn                     integer NOT NULL CHECK (turn >= 0),
  -- order within the conversation, assigned by the daemon (several messages can share a turn)
  seq                      integer NOT NULL DEFAULT 0,
  role                     text NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
  content                  text NOT NULL,
  stt_provider             text,
  llm_provider             text,
  tts_provider             text,
  stt_ms                   integer,
  llm_first_token_ms       integer,
  tts_first_byte_ms        integer,
  turn_ms                  integer,
  created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS v_voice_messages_domain_idx ON v_voice_messages (domain_uuid);
CREATE INDEX IF NOT EXISTS v_voice_messages_conversation_idx
  ON v_voice_messages (voice_conversation_uuid, turn, seq);
