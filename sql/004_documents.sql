-- Per-tenant knowledge base. Embeddings are stored as real[] so retrieval works without pgvector;
-- when the vector extension is installed a vector column and index are added too (below).
CREATE TABLE IF NOT EXISTS v_voice_documents (
  voice_document_uuid  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  domain_uuid          uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  voice_secretary_uuid uuid REFERENCES v_voice_secretaries (voice_secretary_uuid) ON DELETE CASCADE,
  document_name        text NOT NULL,
  mime_type            text NOT NULL DEFAULT 'text/plain',
  content_sha256       text,
  chunk_count          integer NOT NULL DEFAULT 0,
  status               text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ready', 'failed')),
  is_enabled           boolean NOT NULL DEFAULT true,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS v_voice_documents_domain_idx ON v_voice_documents (domain_uuid);

CREATE TABLE IF NOT EXISTS v_voice_document_chunks (
  voice_document_chunk_uuid uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  voice_document_uuid       uuid NOT NULL REFERENCES v_voice_documents (voice_document_uuid) ON DELETE CASCADE,
  domain_uuid               uuid NOT NULL REFERENCES v_domains (domain_uuid) ON DELETE CASCADE,
  chunk_index               integer NOT NULL,
  content                   text NOT NULL,
  token_count               integer,
  embedding                 real[],
  embedding_model           text,
  created_at                timestamptz NOT NULL DEFAULT now(),
  UNIQUE (voice_document_uuid, chunk_index)
);

CREATE INDEX IF NOT EXISTS v_voice_document_chunks_domain_idx
  ON v_voice_document_chunks (domain_uuid, voice_document_uuid);

DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS vector;
      ALTER TABLE v_voice_document_chunks ADD COLUMN IF NOT EXISTS embedding_vector vector;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'pgvector is available but could not be enabled; using real[] embeddings';
    END;
  END IF;
END
$$;
