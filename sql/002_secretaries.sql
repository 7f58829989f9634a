-- A secretary is an AI answering one extension of one tenant.
CREATE TABLE IF NOT EXISTS v_voice_secretaries (
  voice_secretary_uuid      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain_uuid               uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  secretary_name            text NOT NULL,
  extension                 text NOT NULL CHECK (extension ~ '^[0-9*#+]{1,32}$'),
  processing_mode           text NOT NULL DEFAULT 'turn_based'
                              CHECK (processing_mode IN ('turn_based', 'realtime', 'auto')),
  system_prompt             text NOT NULL DEFAULT '',
  greeting                  text NOT NULL DEFAULT '',
  farewell                  text NOT NULL DEFAULT '',
  language                  text NOT NULL DEFAULT 'pt-BR',
  voice                     text,
  stt_provider_uuid         uuid REFERENCES v_voice_ai_providers (provider_uuid) ON DELETE SET NULL,
  tts_provider_uuid         uuid REFERENCES v_voice_ai_providers (provider_uuid) ON DELETE SET NULL,
  llm_provider_uuid         uuid REFERENCES v_voice_ai_providers (provider_uuid) ON DELETE SET NULL,
  realtime_provider_uuid    uuid REFERENCES v_voice_ai_providers (provider_uuid) ON DELETE SET NULL,
  embeddings_provider_uuid  uuid REFERENCES v_voice_ai_providers (provider_uuid) ON DELETE SET NULL,
  is_enabled                boolean NOT NULL DEFAULT true,
  max_turns                 integer NOT NULL DEFAULT 20 CHECK (max_turns BETWEEN 1 AND 200),
  max_silent_turns          integer NOT NULL DEFAULT 3 CHECK (max_silent_turns BETWEEN 1 AND 20),
  -- record: stop after this many seconds of speech at most
  record_max_seconds        integer NOT NULL DEFAULT 30 CHECK (record_max_seconds BETWEEN 1 AND 300),
  -- record: a 20 ms frame below this mean amplitude (8 kHz scale) is silent
  silence_threshold         integer NOT NULL DEFAULT 200 CHECK (silence_threshold BETWEEN 1 AND 10000),
  -- record: stop after this many seconds of continuous silence
  silence_seconds           integer NOT NULL DEFAULT 2 CHECK (silence_seconds BETWEEN 1 AND 30),
  idle_timeout_seconds      integer NOT NULL DEFAULT 30 CHECK (idle_timeout_seconds BETWEEN 1 AND 3600),
  max_call_seconds          integer NOT NULL DEFAULT 600 CHECK (max_call_seconds BETWEEN 10 AND 86400),
  transfer_extension        text CHECK (transfer_extension IS NULL OR transfer_extension ~ '^[0-9*#+]{1,32}$'),
  timezone                  text NOT NULL DEFAULT 'America/Sao_Paulo',
  created_at                timestamptz NOT NULL DEFAULT now(),
  updated_at                timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS v_voice_secretaries_domain_idx ON v_voice_secretaries (domain_uuid);
CREATE INDEX IF NOT EXISTS v_voice_secretaries_domain_extension_idx
  ON v_voice_secretaries (domain_uuid, extension);
-- An extension answers to one enabled secretary per domain.
CREATE UNIQUE INDEX IF NOT EXISTS v_voice_secretaries_enabled_extension_uq
  ON v_voice_secretaries (domain_uuid, extension) WHERE is_enabled;
