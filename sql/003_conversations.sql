-- One row per call handled by a secretary.
-- resolution: completed (the conversation ended normally), transferred (handed to a human),
-- caller_hangup (the caller hung up first), max_turns, silence (the caller stayed silent),
-- timeout (max call duration reached), error (a provider or internal failure ended it),
-- drained (the daemon shut down during the call). NULL while the call is in progress.
CREATE TABLE IF NOT EXISTS v_voice_conversations (
  voice_conversation_uuid  uuid PRIMARY KEY,
  domain_uuid              uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  voice_secretary_uuid     uuid REFERENCES v_voice_secretaries (voice_secretary_uuid) ON DELETE SET NULL,
  call_uuid                text NOT NULL,
  caller_id_number         text,
  caller_id_name           text,
  destination_number       text,
  processing_mode          text NOT NULL DEFAULT 'turn_based'
                             CHECK (processing_mode IN ('turn_based', 'realtime', 'auto')),
  started_at               timestamptz NOT NULL DEFAULT now(),
  ended_at                 timestamptz,
  duration_seconds         integer CHECK (duration_seconds IS NULL OR duration_seconds >= 0),
  total_turns              integer NOT NULL DEFAULT 0,
  resolution               text CHECK (resolution IS NULL OR resolution IN
                             ('completed', 'transferred', 'caller_hangup', 'max_turns', 'silence',
                              'timeout', 'error', 'drained')),
  transferred_to           text,
  created_at               timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS v_voice_conversations_domain_idx ON v_voice_conversations (domain_uuid);
CREATE INDEX IF NOT EXISTS v_voice_conversations_domain_started_idx
  ON v_voice_conversations (domain_uuid, started_at);
CREATE INDEX IF NOT EXISTS v_voice_conversations_call_idx ON v_voice_conversations (call_uuid);
