-- Which media backend a conversation ran on (issue 10): `files` (FreeSWITCH record + playback), `unicast`
-- (stock FreeSWITCH UDP streaming), `audio_stream` (mod_audio_stream) or `text` (the console, the demo).
-- Set when the conversation ends, because `auto` may start on a streaming backend and fall back to files.
-- processing_mode keeps its meaning and now says what really ran (turn_based for files), not what the
-- secretary asked for. Rows from before this migration keep NULL. Idempotent.
ALTER TABLE v_voice_conversations ADD COLUMN IF NOT EXISTS media_backend text;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conname = 'v_voice_conversations_media_backend_check'
                   AND conrelid = 'v_voice_conversations'::regclass) THEN
    ALTER TABLE v_voice_conversations ADD CONSTRAINT v_voice_conversations_media_backend_check
      CHECK (media_backend IS NULL OR media_backend IN ('files', 'unicast', 'audio_stream', 'text'));
  END IF;
END
$$;
