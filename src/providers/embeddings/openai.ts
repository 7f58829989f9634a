import { ProviderError } from '../../core/errors.js';
import { optionalPositive, openAiHeaders, secretsOf, type OpenAiConfig } from '../openai-compatible.js';
import { post, readJson, type HttpCall } from '../transport/http.js';
import type { EmbeddingsProvider } from '../types.js';

const KNOWN_DIMENSIONS: Readonly<Record<string, number>> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

/** Texts per request: well under OpenAI's 2,048-input limit, and kind to local servers. */
const DEFAULT_BATCH = 256;

/**
 * `/embeddings` with `encoding_format: 'float'` sent explicitly. Config: dimensions (sent to the vendor,
 * which shortens text-embedding-3 vectors), batch_size.
 */
export function createOpenAiEmbeddings(config: OpenAiConfig): EmbeddingsProvider {
  const where = `provider ${config.info.providerUuid ?? '?'} (${config.info.vendor} embeddings)`;
  const requested = optionalPositive(config.extra, 'dimensions', where);
  const batch = optionalPositive(config.extra, 'batch_size', where) ?? DEFAULT_BATCH;
  const dimensions = requested ?? KNOWN_DIMENSIONS[config.info.model];
  const provider: EmbeddingsProvider = {
    info: config.info,
    async embed(texts, signal) {
      const out: number[][] = [];
      for (let i = 0; i < texts.length; i += batch) {
        out.push(...(await embedBatch(config, texts.slice(i, i + batch), requested, signal)));
      }
      return out;
    },
  };
  return dimensions === undefined ? provider : { ...provider, dimensions };
}

async function embedBatch(
  config: OpenAiConfig,
  texts: readonly string[],
  dimensions: number | undefined,
  signal: AbortSignal,
): Promise<number[][]> {
  const call: HttpCall = {
    vendor: config.info.vendor,
    url: `${config.baseUrl}/embeddings`,
    headers: openAiHeaders(config, 'application/json'),
    body: JSON.stringify({
      model: config.info.model,
      input: texts,
      encoding_format: 'float',
      ...(dimensions === undefined ? {} : { dimensions }),
    }),
    signal,
    fetch: config.fetch,
    secrets: secretsOf(config),
  };
  const res = await post(call);
  const body = (await readJson(res, call)) as { data?: unknown } | null;
  const bad = (why: string) =>
    new ProviderError(call.vendor, `${call.vendor} embeddings ${why}`, { retryable: false });
  if (!Array.isArray(body?.data)) throw bad('response has no data');
  const vectors: (number[] | undefined)[] = new Array<number[] | undefined>(texts.length);
  body.data.forEach((item: unknown, position: number) => {
    const { index, embedding } = (item ?? {}) as { index?: unknown; embedding?: unknown };
    // The data array is documented in index order, but the index field is what to trust.
    const at = typeof index === 'number' ? index : position;
    if (!Array.isArray(embedding) || !embedding.every((x) => typeof x === 'number')) {
      throw bad('item is not a float vector');
    }
    vectors[at] = embedding;
  });
  const out: number[][] = [];
  for (let i = 0; i < texts.length; i++) {
    const v = vectors[i];
    if (v === undefined || vectors.length !== texts.length) {
      throw bad(`returned ${body.data.length} vectors for ${texts.length} texts`);
    }
    out.push(v);
  }
  return out;
}
