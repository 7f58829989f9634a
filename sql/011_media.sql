-- Full-duplex media (issue 10). Idempotent.
--
-- v_voice_conversations.media_backend: which media backend a conversation ran on: `files` (FreeSWITCH record
-- + playback), `unicast` (stock FreeSWITCH UDP streaming), `audio_stream` (mod_audio_stream) or `text` (the
-- console, the demo). Set with the end row, because `auto` may start on a streaming backend and fall back to
-- files. processing_mode keeps its meaning and now says what really ran: `turn_based` on files, `auto` for the
-- full-duplex cascade, `realtime` for a speech-to-speech provider. Rows from before this migration keep NULL.
--
-- v_voice_secretaries.media: the backend a full-duplex secretary asks for (`auto`, `files`, `unicast`,
-- `audio_stream`); NULL takes the daemon's VOICE_AI_MEDIA.
--
-- v_voice_messages.interrupted: the caller cut this assistant reply short (barge-in); `content` then holds
-- only what the caller heard.
ALTER TABLE v_voice_conversations ADD COLUMN IF NOT EXISTS media_backend text;
ALTER TABLE v_voice_secretaries ADD COLUMN IF NOT EXISTS media text;
ALTER TABLE v_voice_messages ADD COLUMN IF NOT EXISTS interrupted boolean NOT NULL DEFAULT false;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conname = 'v_voice_conversations_media_backend_check'
                   AND conrelid = 'v_voice_conversations'::regclass) THEN
    ALTER TABLE v_voice_conversations ADD CONSTRAINT v_voice_conversations_media_backend_check
      CHECK (media_backend IS NULL OR media_backend IN ('files', 'unicast', 'audio_stream', 'text'));
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint
                 WHERE conname = 'v_voice_secretaries_media_check'
                   AND conrelid = 'v_voice_secretaries'::regclass) THEN
    ALTER TABLE v_voice_secretaries ADD CONSTRAINT v_voice_secretaries_media_check
      CHECK (media IS NULL OR media IN ('auto', 'files', 'unicast', 'audio_stream'));
  END IF;
END
$$;
