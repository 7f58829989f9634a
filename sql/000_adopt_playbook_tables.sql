-- Adopts v_voice_* tables that an installation of the system this daemon replaces already holds, created with
-- the design document's DDL (the database playbook): CREATE TABLE IF NOT EXISTS in 001-006 would skip them
-- silently and the daemon would then fail on missing columns. Runs first, and only on a database where voice-ai
-- never migrated (an empty ledger); on a fresh database no table exists and it does nothing.
--
-- Migrations 001-008 were written with the key names voice_secretary_uuid, voice_conversation_uuid,
-- voice_message_uuid, secretary_name and caller_id_number, and 009 renames them to the playbook's names. So an
-- adopted table first takes the names 001-008 expect (playbook -> legacy, here), gains every column they define
-- (ADD COLUMN with the same type and default; NOT NULL set only where no row is NULL), has its playbook-era
-- types widened (varchar -> text, timestamp -> timestamptz, read in the session's time zone), and gets the same
-- CHECK and foreign-key constraints, added NOT VALID and validated where the old rows allow (a NOTICE names the
-- ones left unvalidated: new rows are checked either way). Rows that would break the unique indexes of 001 and
-- 002 (two defaults of one provider type, two enabled secretaries on one extension) keep the oldest and are
-- set aside with a NOTICE. Nothing is dropped but the playbook's own foreign keys, replaced by ours with their
-- ON DELETE actions. Then 001-009 run as on any database.
DO $$
DECLARE
  r record;
BEGIN
  IF EXISTS (SELECT 1 FROM v_voice_schema_migrations) THEN
    RETURN;
  END IF;

  -- Renames a column while the old name exists and the new one does not.
  CREATE OR REPLACE FUNCTION pg_temp.va_rename(t text, old_name text, new_name text) RETURNS void
  LANGUAGE plpgsql AS $f$
  BEGIN
    IF EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = t AND column_name = old_name)
       AND NOT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = t AND column_name = new_name) THEN
      EXECUTE format('ALTER TABLE %I RENAME COLUMN %I TO %I', t, old_name, new_name);
    END IF;
  END
  $f$;

  -- Makes column `col` of `t` what 001-006 define: adds it when missing, widens a playbook type, sets the
  -- default, fills NULLs with `fill` (an SQL expression) and sets NOT NULL when no NULL is left.
  CREATE OR REPLACE FUNCTION pg_temp.va_column(t text, col text, typ text, dflt text, not_null boolean,
                                               fill text) RETURNS void
  LANGUAGE plpgsql AS $f$
  DECLARE
    have text;
    no_nulls boolean;
  BEGIN
    SELECT format_type(a.atttypid, a.atttypmod) INTO have
    FROM pg_attribute a
    WHERE a.attrelid = to_regclass(quote_ident(t)) AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF have IS NULL THEN
      EXECUTE format('ALTER TABLE %I ADD COLUMN %I %s', t, col, typ) || coalesce(' DEFAULT ' || dflt, '');
    ELSE
      IF have <> typ THEN
        IF (typ = 'text' AND (have LIKE 'character varying%' OR have LIKE 'character(%'))
           OR (typ = 'timestamp with time zone' AND have = 'timestamp without time zone') THEN
          EXECUTE format('ALTER TABLE %I ALTER COLUMN %I TYPE %s', t, col, typ);
        ELSE
          RAISE NOTICE 'voice-ai adopt: %.% is % where voice-ai expects %; left as it is', t, col, have, typ;
        END IF;
      END IF;
      IF dflt IS NOT NULL THEN
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET DEFAULT %s', t, col, dflt);
      END IF;
    END IF;
    IF not_null THEN
      IF fill IS NOT NULL THEN
        EXECUTE format('UPDATE %I SET %I = %s WHERE %I IS NULL', t, col, fill, col);
      END IF;
      EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I WHERE %I IS NULL)', t, col) INTO no_nulls;
      IF no_nulls THEN
        EXECUTE format('ALTER TABLE %I ALTER COLUMN %I SET NOT NULL', t, col);
      ELSE
        RAISE NOTICE 'voice-ai adopt: %.% has NULL rows; the column stays nullable', t, col;
      END IF;
    END IF;
  END
  $f$;

  -- Adds a CHECK constraint NOT VALID, then validates it when the old rows pass.
  CREATE OR REPLACE FUNCTION pg_temp.va_check(t text, name text, expr text) RETURNS void
  LANGUAGE plpgsql AS $f$
  BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(quote_ident(t)) AND conname = name) THEN
      RETURN;
    END IF;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (%s) NOT VALID', t, name, expr);
    BEGIN
      EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', t, name);
    EXCEPTION WHEN check_violation THEN
      RAISE NOTICE 'voice-ai adopt: rows of % break %; checked for new rows only', t, name;
    END;
  END
  $f$;

  -- Replaces the foreign keys on `col` by ours (with its ON DELETE action), NOT VALID, validated if possible.
  CREATE OR REPLACE FUNCTION pg_temp.va_fk(t text, col text, ref text, ref_col text, on_delete text)
  RETURNS void
  LANGUAGE plpgsql AS $f$
  DECLARE
    c record;
    name text := t || '_' || col || '_fkey';
  BEGIN
    FOR c IN
      SELECT k.conname FROM pg_constraint k
      JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
      WHERE k.conrelid = to_regclass(quote_ident(t)) AND k.contype = 'f' AND a.attname = col
        AND cardinality(k.conkey) = 1
    LOOP
      EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', t, c.conname);
    END LOOP;
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES %I (%I) ON DELETE %s NOT VALID',
                   t, name, col, ref, ref_col, on_delete);
    BEGIN
      EXECUTE format('ALTER TABLE %I VALIDATE CONSTRAINT %I', t, name);
    EXCEPTION WHEN foreign_key_violation THEN
      RAISE NOTICE 'voice-ai adopt: rows of % point nowhere through %; checked for new rows only', t, col;
    END;
  END
  $f$;

  IF to_regclass('v_voice_ai_providers') IS NOT NULL THEN
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'provider_type', 'text', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'provider_name', 'text', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'config', 'jsonb', '''{}''::jsonb', true, '''{}''::jsonb');
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'secrets', 'bytea', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'is_default', 'boolean', 'false', true, 'false');
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'is_enabled', 'boolean', 'true', true, 'true');
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'priority', 'integer', '100', true, '100');
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'created_at', 'timestamp with time zone', 'now()', true, 'now()');
    PERFORM pg_temp.va_column('v_voice_ai_providers', 'updated_at', 'timestamp with time zone', 'now()', true,
                              'created_at');
    PERFORM pg_temp.va_check('v_voice_ai_providers', 'v_voice_ai_providers_provider_type_check',
                             $c$provider_type IN ('stt', 'tts', 'llm', 'embeddings', 'realtime')$c$);
    PERFORM pg_temp.va_check('v_voice_ai_providers', 'v_voice_ai_providers_provider_name_check',
                             $c$provider_name ~ '^[a-z0-9_.-]{1,64}$'$c$);
    PERFORM pg_temp.va_check('v_voice_ai_providers', 'v_voice_ai_providers_config_check',
                             $c$jsonb_typeof(config) = 'object'$c$);
    PERFORM pg_temp.va_fk('v_voice_ai_providers', 'domain_uuid', 'v_domains', 'domain_uuid', 'CASCADE');
    -- 001's unique index allows one default per (domain, type): the oldest stays the default.
    UPDATE v_voice_ai_providers p SET is_default = false
    WHERE p.is_default AND EXISTS (
      SELECT 1 FROM v_voice_ai_providers o
      WHERE o.domain_uuid = p.domain_uuid AND o.provider_type = p.provider_type AND o.is_default
        AND (o.created_at, o.provider_uuid) < (p.created_at, p.provider_uuid));
    IF FOUND THEN
      RAISE NOTICE 'voice-ai adopt: providers that were a second default of their type are no longer default';
    END IF;
  END IF;

  IF to_regclass('v_voice_secretaries') IS NOT NULL THEN
    PERFORM pg_temp.va_rename('v_voice_secretaries', 'secretary_uuid', 'voice_secretary_uuid');
    PERFORM pg_temp.va_rename('v_voice_secretaries', 'name', 'secretary_name');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'secretary_name', 'text', NULL, true, '''''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'extension', 'text', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'processing_mode', 'text', '''turn_based''', true,
                              '''turn_based''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'system_prompt', 'text', '''''', true, '''''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'greeting', 'text', '''''', true, '''''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'farewell', 'text', '''''', true, '''''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'language', 'text', '''pt-BR''', true, '''pt-BR''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'voice', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'stt_provider_uuid', 'uuid', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'tts_provider_uuid', 'uuid', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'llm_provider_uuid', 'uuid', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'realtime_provider_uuid', 'uuid', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'embeddings_provider_uuid', 'uuid', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'is_enabled', 'boolean', 'true', true, 'true');
    -- The call settings of 002: each an integer with a default and a range.
    FOR r IN
      SELECT * FROM (VALUES
        ('max_turns', 20, 1, 200),
        ('max_silent_turns', 3, 1, 20),
        ('record_max_seconds', 30, 1, 300),
        ('silence_threshold', 200, 1, 10000),
        ('silence_seconds', 2, 1, 30),
        ('idle_timeout_seconds', 30, 1, 3600),
        ('max_call_seconds', 600, 10, 86400)
      ) AS v (col, dflt, lo, hi)
    LOOP
      PERFORM pg_temp.va_column('v_voice_secretaries', r.col, 'integer', r.dflt::text, true, r.dflt::text);
      PERFORM pg_temp.va_check('v_voice_secretaries', 'v_voice_secretaries_' || r.col || '_check',
                               format('%I BETWEEN %s AND %s', r.col, r.lo, r.hi));
    END LOOP;
    PERFORM pg_temp.va_column('v_voice_secretaries', 'transfer_extension', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_secretaries', 'timezone', 'text', '''America/Sao_Paulo''', true,
                              '''America/Sao_Paulo''');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'created_at', 'timestamp with time zone', 'now()', true,
                              'now()');
    PERFORM pg_temp.va_column('v_voice_secretaries', 'updated_at', 'timestamp with time zone', 'now()', true,
                              'created_at');
    PERFORM pg_temp.va_check('v_voice_secretaries', 'v_voice_secretaries_extension_check',
                             $c$extension ~ '^[0-9*#+]{1,32}$'$c$);
    PERFORM pg_temp.va_check('v_voice_secretaries', 'v_voice_secretaries_processing_mode_check',
                             $c$processing_mode IN ('turn_based', 'realtime', 'auto')$c$);
    PERFORM pg_temp.va_check('v_voice_secretaries', 'v_voice_secretaries_transfer_extension_check',
                             $c$transfer_extension IS NULL OR transfer_extension ~ '^[0-9*#+]{1,32}$'$c$);
    PERFORM pg_temp.va_fk('v_voice_secretaries', 'domain_uuid', 'v_domains', 'domain_uuid', 'CASCADE');
    PERFORM pg_temp.va_fk('v_voice_secretaries', 'stt_provider_uuid', 'v_voice_ai_providers', 'provider_uuid',
                          'SET NULL');
    PERFORM pg_temp.va_fk('v_voice_secretaries', 'tts_provider_uuid', 'v_voice_ai_providers', 'provider_uuid',
                          'SET NULL');
    PERFORM pg_temp.va_fk('v_voice_secretaries', 'llm_provider_uuid', 'v_voice_ai_providers', 'provider_uuid',
                          'SET NULL');
    PERFORM pg_temp.va_fk('v_voice_secretaries', 'realtime_provider_uuid', 'v_voice_ai_providers',
                          'provider_uuid', 'SET NULL');
    PERFORM pg_temp.va_fk('v_voice_secretaries', 'embeddings_provider_uuid', 'v_voice_ai_providers',
                          'provider_uuid', 'SET NULL');
    -- 002's unique index allows one enabled secretary per (domain, extension): the oldest keeps it.
    UPDATE v_voice_secretaries s SET is_enabled = false
    WHERE s.is_enabled AND EXISTS (
      SELECT 1 FROM v_voice_secretaries o
      WHERE o.domain_uuid = s.domain_uuid AND o.extension = s.extension AND o.is_enabled
        AND (o.created_at, o.voice_secretary_uuid) < (s.created_at, s.voice_secretary_uuid));
    IF FOUND THEN
      RAISE NOTICE 'voice-ai adopt: secretaries that shared an extension with an older one are now disabled';
    END IF;
  END IF;

  IF to_regclass('v_voice_conversations') IS NOT NULL THEN
    PERFORM pg_temp.va_rename('v_voice_conversations', 'conversation_uuid', 'voice_conversation_uuid');
    PERFORM pg_temp.va_rename('v_voice_conversations', 'secretary_uuid', 'voice_secretary_uuid');
    PERFORM pg_temp.va_rename('v_voice_conversations', 'caller_id', 'caller_id_number');
    PERFORM pg_temp.va_column('v_voice_conversations', 'voice_secretary_uuid', 'uuid', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'call_uuid', 'text', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'caller_id_number', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'caller_id_name', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'destination_number', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'processing_mode', 'text', '''turn_based''', true,
                              '''turn_based''');
    PERFORM pg_temp.va_column('v_voice_conversations', 'started_at', 'timestamp with time zone', 'now()', true,
                              'now()');
    PERFORM pg_temp.va_column('v_voice_conversations', 'ended_at', 'timestamp with time zone', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'duration_seconds', 'integer', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'total_turns', 'integer', '0', true, '0');
    PERFORM pg_temp.va_column('v_voice_conversations', 'resolution', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'transferred_to', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_conversations', 'created_at', 'timestamp with time zone', 'now()', true,
                              'started_at');
    UPDATE v_voice_conversations
    SET duration_seconds = greatest(0, extract(epoch FROM ended_at - started_at))::integer
    WHERE duration_seconds IS NULL AND ended_at IS NOT NULL;
    PERFORM pg_temp.va_check('v_voice_conversations', 'v_voice_conversations_processing_mode_check',
                             $c$processing_mode IN ('turn_based', 'realtime', 'auto')$c$);
    PERFORM pg_temp.va_check('v_voice_conversations', 'v_voice_conversations_duration_seconds_check',
                             'duration_seconds IS NULL OR duration_seconds >= 0');
    PERFORM pg_temp.va_check('v_voice_conversations', 'v_voice_conversations_resolution_check',
                             $c$resolution IS NULL OR resolution IN ('completed', 'transferred', 'caller_hangup',
                             'max_turns', 'silence', 'timeout', 'error', 'drained')$c$);
    PERFORM pg_temp.va_fk('v_voice_conversations', 'domain_uuid', 'v_domains', 'domain_uuid', 'CASCADE');
    IF to_regclass('v_voice_secretaries') IS NOT NULL THEN
      PERFORM pg_temp.va_fk('v_voice_conversations', 'voice_secretary_uuid', 'v_voice_secretaries',
                            'voice_secretary_uuid', 'SET NULL');
    END IF;
  END IF;

  IF to_regclass('v_voice_messages') IS NOT NULL THEN
    PERFORM pg_temp.va_rename('v_voice_messages', 'message_uuid', 'voice_message_uuid');
    PERFORM pg_temp.va_rename('v_voice_messages', 'conversation_uuid', 'voice_conversation_uuid');
    PERFORM pg_temp.va_column('v_voice_messages', 'voice_conversation_uuid', 'uuid', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'domain_uuid', 'uuid', NULL, false, NULL);
    IF to_regclass('v_voice_conversations') IS NOT NULL THEN
      UPDATE v_voice_messages m SET domain_uuid = c.domain_uuid
      FROM v_voice_conversations c
      WHERE m.domain_uuid IS NULL AND c.voice_conversation_uuid = m.voice_conversation_uuid;
    END IF;
    PERFORM pg_temp.va_column('v_voice_messages', 'domain_uuid', 'uuid', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'turn', 'integer', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'seq', 'integer', '0', false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'created_at', 'timestamp with time zone', 'now()', true,
                              'now()');
    -- The playbook has no order within a conversation but created_at: number the old messages by it.
    UPDATE v_voice_messages m SET turn = coalesce(m.turn, 0), seq = o.n - 1
    FROM (SELECT voice_message_uuid, row_number() OVER (PARTITION BY voice_conversation_uuid
                                                        ORDER BY created_at, voice_message_uuid) AS n
          FROM v_voice_messages) o
    WHERE o.voice_message_uuid = m.voice_message_uuid AND m.turn IS NULL;
    PERFORM pg_temp.va_column('v_voice_messages', 'turn', 'integer', NULL, true, '0');
    PERFORM pg_temp.va_column('v_voice_messages', 'seq', 'integer', '0', true, '0');
    PERFORM pg_temp.va_column('v_voice_messages', 'role', 'text', NULL, true, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'content', 'text', NULL, true, '''''');
    PERFORM pg_temp.va_column('v_voice_messages', 'stt_provider', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'llm_provider', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'tts_provider', 'text', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'stt_ms', 'integer', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'llm_first_token_ms', 'integer', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'tts_first_byte_ms', 'integer', NULL, false, NULL);
    PERFORM pg_temp.va_column('v_voice_messages', 'turn_ms', 'integer', NULL, false, NULL);
    PERFORM pg_temp.va_check('v_voice_messages', 'v_voice_messages_turn_check', 'turn >= 0');
    PERFORM pg_temp.va_check('v_voice_messages', 'v_voice_messages_role_check',
                             $c$role IN ('user', 'assistant', 'system', 'tool')$c$);
    PERFORM pg_temp.va_fk('v_voice_messages', 'domain_uuid', 'v_domains', 'domain_uuid', 'CASCADE');
    IF to_regclass('v_voice_conversations') IS NOT NULL THEN
      PERFORM pg_temp.va_fk('v_voice_messages', 'voice_conversation_uuid', 'v_voice_conversations',
                            'voice_conversation_uuid', 'CASCADE');
    END IF;
  END IF;

  -- The playbook lists documents and transfer rules but gives no DDL for them: only the secretary key is
  -- known to be named after it.
  IF to_regclass('v_voice_documents') IS NOT NULL THEN
    PERFORM pg_temp.va_rename('v_voice_documents', 'secretary_uuid', 'voice_secretary_uuid');
  END IF;
  IF to_regclass('v_voice_transfer_rules') IS NOT NULL THEN
    PERFORM pg_temp.va_rename('v_voice_transfer_rules', 'secretary_uuid', 'voice_secretary_uuid');
  END IF;

  DROP FUNCTION pg_temp.va_rename(text, text, text);
  DROP FUNCTION pg_temp.va_column(text, text, text, text, boolean, text);
  DROP FUNCTION pg_temp.va_check(text, text, text);
  DROP FUNCTION pg_temp.va_fk(text, text, text, text, text);
END
$$;
