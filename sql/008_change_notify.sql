-- Cache invalidation: any change to a secretary or provider, by anyone (FusionPBX, psql, the CLI),
-- notifies every daemon on channel voice_ai_changes with '<table>:<domain_uuid>:<row uuid>'.
CREATE OR REPLACE FUNCTION v_voice_notify_change()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  r record;
  row_uuid uuid;
BEGIN
  IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
  IF TG_TABLE_NAME = 'v_voice_secretaries' THEN
    row_uuid := r.voice_secretary_uuid;
  ELSE
    row_uuid := r.provider_uuid;
  END IF;
  PERFORM pg_notify('voice_ai_changes', TG_TABLE_NAME || ':' || r.domain_uuid::text || ':' || row_uuid::text);
  IF TG_OP = 'UPDATE' AND OLD.domain_uuid IS DISTINCT FROM NEW.domain_uuid THEN
    PERFORM pg_notify('voice_ai_changes', TG_TABLE_NAME || ':' || OLD.domain_uuid::text || ':' || row_uuid::text);
  END IF;
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS v_voice_secretaries_notify ON v_voice_secretaries;
CREATE TRIGGER v_voice_secretaries_notify
  AFTER INSERT OR UPDATE OR DELETE ON v_voice_secretaries
  FOR EACH ROW EXECUTE FUNCTION v_voice_notify_change();

DROP TRIGGER IF EXISTS v_voice_ai_providers_notify ON v_voice_ai_providers;
CREATE TRIGGER v_voice_ai_providers_notify
  AFTER INSERT OR UPDATE OR DELETE ON v_voice_ai_providers
  FOR EACH ROW EXECUTE FUNCTION v_voice_notify_change();
