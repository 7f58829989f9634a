-- The design document (the database playbook this schema comes from) names the keys secretary_uuid,
-- conversation_uuid and message_uuid, the secretary's name `name` and the caller's number `caller_id`; its own
-- queries ("Buscar Secretária por Ramal", "Histórico de Conversas") and any tool written against it use those
-- names. Migrations 002-006 created voice_secretary_uuid, voice_conversation_uuid, voice_message_uuid,
-- secretary_name and caller_id_number; applied migrations are never edited, so this one renames them.
-- Idempotent: each rename runs only while the old column exists and the new one does not.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT * FROM (VALUES
      ('v_voice_secretaries', 'voice_secretary_uuid', 'secretary_uuid'),
      ('v_voice_secretaries', 'secretary_name', 'name'),
      ('v_voice_conversations', 'voice_conversation_uuid', 'conversation_uuid'),
      ('v_voice_conversations', 'voice_secretary_uuid', 'secretary_uuid'),
      ('v_voice_conversations', 'caller_id_number', 'caller_id'),
      ('v_voice_messages', 'voice_message_uuid', 'message_uuid'),
      ('v_voice_messages', 'voice_conversation_uuid', 'conversation_uuid'),
      ('v_voice_documents', 'voice_secretary_uuid', 'secretary_uuid'),
      ('v_voice_transfer_rules', 'voice_secretary_uuid', 'secretary_uuid')
    ) AS t (table_name, old_name, new_name)
  LOOP
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = r.table_name
                 AND column_name = r.old_name)
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = r.table_name
                         AND column_name = r.new_name) THEN
      EXECUTE format('ALTER TABLE %I RENAME COLUMN %I TO %I', r.table_name, r.old_name, r.new_name);
    END IF;
  END LOOP;
END
$$;

-- The change trigger of 008 read the secretary's key by its old name.
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
    row_uuid := r.secretary_uuid;
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
