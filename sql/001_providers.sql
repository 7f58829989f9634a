-- AI providers per tenant. Non-secret settings stay readable in config; secrets are pgcrypto-encrypted.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE IF NOT EXISTS v_voice_ai_providers (
  provider_uuid  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain_uuid    uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  provider_type  text NOT NULL CHECK (provider_type IN ('stt', 'tts', 'llm', 'embeddings', 'realtime')),
  provider_name  text NOT NULL CHECK (provider_name ~ '^[a-z0-9_.-]{1,64}$'),
  config         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
  secrets        bytea,
  is_default     boolean NOT NULL DEFAULT false,
  is_enabled     boolean NOT NULL DEFAULT true,
  priority       integer NOT NULL DEFAULT 100,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS v_voice_ai_providers_domain_idx
  ON v_voice_ai_providers (domain_uuid, provider_type, is_enabled);

-- At most one default provider per (domain, type).
CREATE UNIQUE INDEX IF NOT EXISTS v_voice_ai_providers_one_default
  ON v_voice_ai_providers (domain_uuid, provider_type) WHERE is_default;
