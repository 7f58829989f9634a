-- Seeds a domain's default provider rows (no secrets). Idempotent: a type that already has a default
-- provider in the domain is left alone, also when two sessions seed the same domain at once. Returns the number
-- of rows inserted.
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
    ('stt', 'openai', '{"model": "whisper-1"}'::jsonb),
    ('llm', 'openai', '{"model": "gpt-4o-mini"}'::jsonb),
    ('tts', 'openai', '{"model": "tts-1", "voice": "alloy"}'::jsonb),
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
