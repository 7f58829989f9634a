-- Moves the seeded defaults off models OpenAI has announced for shutdown: whisper-1 (2027-02-26), tts-1 and
-- every /audio/speech model (2027-01-06; speech moves to the Realtime API) and gpt-4o-mini (2027-01-14, as
-- reported from OpenAI's deprecations page). Applied migrations are never edited, so this one replaces 007's
-- function for new domains and moves the rows 007 seeded that still carry exactly its config: a row an operator
-- edited (another model, a base_url, a voice) is left alone, and `voice-ai doctor` warns about it instead.
-- Keep in step with OPENAI_DEFAULT_MODELS in src/providers/openai-compatible.ts. Idempotent.
CREATE OR REPLACE FUNCTION v_voice_seed_default_providers(p_domain_uuid uuid)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
  inserted integer := 0;
  n integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM v_domains WHERE domain_uuid = p_domain_uuid) THEN
    RAISE EXCEPTION 'domain % does not exist in v_domains', p_domain_uuid;
  END IF;
  INSERT INTO v_voice_ai_providers (domain_uuid, provider_type, provider_name, config, is_default, priority)
  SELECT p_domain_uuid, d.provider_type, d.provider_name, d.config, true, 100
  FROM (VALUES
    ('stt', 'openai', '{"model": "gpt-transcribe"}'::jsonb),
    ('llm', 'openai', '{"model": "gpt-5.4-mini"}'::jsonb),
    ('tts', 'openai', '{"model": "gpt-realtime-2.1-mini", "voice": "alloy"}'::jsonb),
    ('embeddings', 'openai', '{"model": "text-embedding-3-small"}'::jsonb)
  ) AS d (provider_type, provider_name, config)
  WHERE NOT EXISTS (
    SELECT 1 FROM v_voice_ai_providers p
    WHERE p.domain_uuid = p_domain_uuid AND p.provider_type = d.provider_type AND p.is_default
  )
  -- A concurrent seed of the same domain (two daemons, or the CLI and a daemon) inserts the same defaults;
  -- without this the one that commits second fails on v_voice_ai_providers_one_default.
  ON CONFLICT (domain_uuid, provider_type) WHERE is_default DO NOTHING;
  GET DIAGNOSTICS n = ROW_COUNT;
  inserted := inserted + n;
  RETURN inserted;
END
$$;

-- jsonb equality ignores key order and spacing: exactly 007's config. Secrets added since
-- (the seed has none) do not count as an edit. The voice stays alloy, which Realtime models also have.
UPDATE v_voice_ai_providers p
SET config = m.new_config, updated_at = now()
FROM (VALUES
  ('stt', '{"model": "whisper-1"}'::jsonb, '{"model": "gpt-transcribe"}'::jsonb),
  ('llm', '{"model": "gpt-4o-mini"}'::jsonb, '{"model": "gpt-5.4-mini"}'::jsonb),
  ('tts', '{"model": "tts-1", "voice": "alloy"}'::jsonb,
          '{"model": "gpt-realtime-2.1-mini", "voice": "alloy"}'::jsonb)
) AS m (provider_type, old_config, new_config)
WHERE p.provider_type = m.provider_type
  AND p.provider_name = 'openai'
  AND p.is_default
  AND p.config = m.old_config
  -- Only what 007's function can have seeded: a row with the same config that the system voice-ai replaces
  -- wrote before voice-ai adopted the table (migration 000) is that installation's choice, not our default.
  AND p.created_at >= (SELECT applied_at FROM v_voice_schema_migrations WHERE version = 7);
