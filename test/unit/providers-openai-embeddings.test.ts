import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/core/errors.js';
import { createOpenAiEmbeddings } from '../../src/providers/embeddings/openai.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import { hashVector, startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY, embeddingDimensions: 4 });
});
afterEach(() => fake.close());

const signal = (): AbortSignal => new AbortController().signal;

describe('OpenAI embeddings adapter', () => {
  it('sends float encoding explicitly and returns vectors in input order', async () => {
    const emb = createOpenAiEmbeddings(fakeConfig(fake.baseUrl, 'embeddings'));
    expect(emb.dimensions).toBe(1536);
    const vectors = await emb.embed(['horário de atendimento', 'endereço'], signal());
    expect(vectors).toEqual([hashVector('horário de atendimento', 4), hashVector('endereço', 4)]);
    expect(fake.requests[0]?.body).toEqual({
      model: 'text-embedding-3-small',
      input: ['horário de atendimento', 'endereço'],
      encoding_format: 'float',
    });
  });

  it('orders by the index field, not by position', async () => {
    const data = [
      { object: 'embedding', index: 1, embedding: [2] },
      { object: 'embedding', index: 0, embedding: [1] },
    ];
    fake.on('embeddings', () => ({
      type: 'raw',
      headers: { 'content-type': 'application/json' },
      chunks: [
        JSON.stringify({ object: 'list', data, model: 'm', usage: { prompt_tokens: 2, total_tokens: 2 } }),
      ],
    }));
    const emb = createOpenAiEmbeddings(fakeConfig(fake.baseUrl, 'embeddings'));
    expect(await emb.embed(['a', 'b'], signal())).toEqual([[1], [2]]);
  });

  it('sends configured dimensions, batches large inputs, and makes no request for none', async () => {
    const emb = createOpenAiEmbeddings(
      fakeConfig(fake.baseUrl, 'embeddings', { config: { dimensions: 3, batch_size: 2 } }),
    );
    expect(emb.dimensions).toBe(3);
    expect(await emb.embed([], signal())).toEqual([]);
    const vectors = await emb.embed(['a', 'b', 'c'], signal());
    expect(vectors.map((v) => v.length)).toEqual([3, 3, 3]);
    expect(fake.requests.map((r) => (r.body as { input: string[] }).input)).toEqual([['a', 'b'], ['c']]);
    expect(fake.requests[0]?.body).toMatchObject({ dimensions: 3 });
  });

  it('rejects a response with the wrong number of vectors', async () => {
    fake.script('embeddings', { type: 'embeddings', vectors: [[1, 2]] });
    const emb = createOpenAiEmbeddings(fakeConfig(fake.baseUrl, 'embeddings'));
    const err = await emb.embed(['a', 'b'], signal()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ retryable: false });
  });
});
