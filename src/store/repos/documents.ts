import { assertSecretaryInDomain, columnsOf, firstRow, inTransaction, pick, valuesOf } from './helpers.js';
import type { Db, DocumentChunkRow, DocumentRow } from './types.js';

type Settable = Omit<
  DocumentRow,
  'voice_document_uuid' | 'domain_uuid' | 'chunk_count' | 'created_at' | 'updated_at'
>;

export type DocumentInput = Pick<Settable, 'document_name'> & Partial<Settable>;
export type DocumentPatch = Partial<Omit<Settable, 'secretary_uuid'>>;

const INSERTABLE: readonly (keyof DocumentInput)[] = [
  'document_name',
  'secretary_uuid',
  'mime_type',
  'content_sha256',
  'status',
  'is_enabled',
];
const PATCHABLE: readonly (keyof DocumentPatch)[] = [
  'document_name',
  'mime_type',
  'content_sha256',
  'status',
  'is_enabled',
];

export interface ChunkInput {
  content: string;
  token_count?: number | null;
  embedding?: readonly number[] | null;
  embedding_model?: string | null;
}

export interface DocumentListFilter {
  /** Only this secretary's documents plus the domain-wide ones (secretary_uuid NULL). */
  secretaryUuid?: string;
}

export interface DocumentsRepo {
  create(domainUuid: string, input: DocumentInput): Promise<DocumentRow>;
  list(domainUuid: string, filter?: DocumentListFilter): Promise<DocumentRow[]>;
  findByUuid(domainUuid: string, documentUuid: string): Promise<DocumentRow | undefined>;
  update(domainUuid: string, documentUuid: string, patch: DocumentPatch): Promise<DocumentRow | undefined>;
  remove(domainUuid: string, documentUuid: string): Promise<boolean>;
  /**
   * Replaces the document's chunks (numbered from 0 in the given order) and its chunk_count, in one
   * transaction. Returns the number of chunks stored, or undefined when the domain has no such document.
   */
  replaceChunks(
    domainUuid: string,
    documentUuid: string,
    chunks: readonly ChunkInput[],
  ): Promise<number | undefined>;
  /** In chunk order. */
  listChunks(domainUuid: string, documentUuid: string): Promise<DocumentChunkRow[]>;
}

/** Domain-scoped access to v_voice_documents and v_voice_document_chunks; `sql` may be the pool or a transaction. */
export function createDocumentsRepo(sql: Db): DocumentsRepo {
  const chunkColumns = (db: Db) => db`
    voice_document_chunk_uuid, voice_document_uuid, domain_uuid, chunk_index, content, token_count, embedding,
    embedding_model, created_at`;

  const findByUuid = async (domainUuid: string, documentUuid: string): Promise<DocumentRow | undefined> => {
    const rows = await sql<DocumentRow[]>`
      SELECT * FROM v_voice_documents WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}`;
    return rows[0];
  };

  return {
    async create(domainUuid, input) {
      const cols = columnsOf(input, INSERTABLE);
      return inTransaction(sql, async (tx) => {
        await assertSecretaryInDomain(tx, domainUuid, input.secretary_uuid);
        const values = pick(input, cols, { domain_uuid: domainUuid });
        const rows = await tx<DocumentRow[]>`
          INSERT INTO v_voice_documents ${valuesOf(tx, values, [...cols, 'domain_uuid'])} RETURNING *`;
        return firstRow(rows);
      });
    },

    async list(domainUuid, filter = {}) {
      const secretary = filter.secretaryUuid ?? null;
      return sql<DocumentRow[]>`
        SELECT * FROM v_voice_documents
        WHERE domain_uuid = ${domainUuid}
          AND (${secretary}::uuid IS NULL OR secretary_uuid IS NULL OR secretary_uuid = ${secretary}::uuid)
        ORDER BY created_at, voice_document_uuid`;
    },

    findByUuid,

    async update(domainUuid, documentUuid, patch) {
      const cols = columnsOf(patch, PATCHABLE);
      if (cols.length === 0) return findByUuid(domainUuid, documentUuid);
      // The helper must sit right after SET in this template: postgres.js picks its form from the SQL before it.
      const rows = await sql<DocumentRow[]>`
        UPDATE v_voice_documents SET ${valuesOf(sql, pick(patch, cols), cols)}, updated_at = now()
        WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}
        RETURNING *`;
      return rows[0];
    },

    async remove(domainUuid, documentUuid) {
      const res = await sql`
        DELETE FROM v_voice_documents WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}`;
      return res.count > 0;
    },

    async replaceChunks(domainUuid, documentUuid, chunks) {
      return inTransaction(sql, async (tx) => {
        const doc = await tx`
          SELECT 1 FROM v_voice_documents
          WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}
          FOR UPDATE`;
        if (doc.length === 0) return undefined;
        await tx`
          DELETE FROM v_voice_document_chunks
          WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}`;
        let stored = 0;
        if (chunks.length > 0) {
          const batch = chunks.map((c, i) => ({
            chunk_index: i,
            content: c.content,
            token_count: c.token_count ?? null,
            embedding: c.embedding ?? null,
            embedding_model: c.embedding_model ?? null,
          }));
          const res = await tx`
            INSERT INTO v_voice_document_chunks
              (voice_document_uuid, domain_uuid, chunk_index, content, token_count, embedding, embedding_model)
            SELECT ${documentUuid}, ${domainUuid}, v.chunk_index, v.content, v.token_count, v.embedding,
              v.embedding_model
            FROM jsonb_to_recordset(${tx.json(batch)}::jsonb) AS v (
              chunk_index integer, content text, token_count integer, embedding real[], embedding_model text)`;
          stored = res.count;
        }
        await tx`
          UPDATE v_voice_documents SET chunk_count = ${stored}, updated_at = now()
          WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}`;
        return stored;
      });
    },

    async listChunks(domainUuid, documentUuid) {
      return sql<DocumentChunkRow[]>`
        SELECT ${chunkColumns(sql)} FROM v_voice_document_chunks
        WHERE domain_uuid = ${domainUuid} AND voice_document_uuid = ${documentUuid}
        ORDER BY chunk_index`;
    },
  };
}
