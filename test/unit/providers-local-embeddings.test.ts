import { describe, expect, it } from 'vitest';
import {
  createLocalHashEmbeddings,
  hashVector,
  LOCAL_HASH_MODEL,
} from '../../src/providers/local/embeddings.js';

const info = { vendor: 'local-hash', kind: 'embeddings' as const, model: LOCAL_HASH_MODEL };
const signal = new AbortController().signal;

const cosine = (a: number[], b: number[]): number => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);
const norm = (v: number[]): number => Math.sqrt(cosine(v, v));

describe('local-hash embeddings', () => {
  it('returns one unit vector of the configured size per text, in order', async () => {
    const e = createLocalHashEmbeddings(info, 256);
    expect(e.dimensions).toBe(256);
    const vectors = await e.embed(
      ['horário de atendimento', 'convênios aceitos', 'endereço da clínica'],
      signal,
    );
    expect(vectors).toHaveLength(3);
    for (const v of vectors) {
      expect(v).toHaveLength(256);
      expect(norm(v)).toBeCloseTo(1, 10);
    }
    expect(vectors[1]).toEqual(hashVector('convênios aceitos', 256));
  });

  it('is deterministic across instances and insensitive to accents, case and stopwords', async () => {
    const a = await createLocalHashEmbeddings(info, 64).embed(['Qual é o HORÁRIO de funcionamento?'], signal);
    const b = await createLocalHashEmbeddings(info, 64).embed(['horario funcionamento'], signal);
    expect(a).toEqual(b);
    // Pinned, so a change to tokenisation or hashing (which invalidates stored vectors) cannot pass unnoticed.
    expect(hashVector('horário', 8)).toEqual([0, 0, 0, 0, -1, 0, 0, 0]);
    const two = hashVector('consulta marcada', 8);
    expect(two.map((x) => Number(x.toFixed(6)))).toEqual([0, -0.707107, 0, 0, 0, 0.707107, 0, 0]);
  });

  it('puts texts that share words closer than unrelated ones', async () => {
    const [question, hours, insurance] = await createLocalHashEmbeddings(info, 256).embed(
      [
        'Qual o horário de funcionamento da clínica?',
        'Nosso horário de funcionamento é de segunda a sexta, das 8h às 18h.',
        'Aceitamos os convênios Unimed, Bradesco Saúde e Amil.',
      ],
      signal,
    );
    if (!question || !hours || !insurance) throw new Error('missing vectors');
    expect(cosine(question, hours)).toBeGreaterThan(0.4);
    expect(cosine(question, hours)).toBeGreaterThan(cosine(question, insurance) + 0.3);
  });

  it('gives a zero vector to a text with no content words', () => {
    expect(hashVector('o que é isso?', 16)).toEqual(new Array<number>(16).fill(0));
  });

  it('honours an aborted signal', async () => {
    const ctl = new AbortController();
    ctl.abort();
    await expect(createLocalHashEmbeddings(info, 8).embed(['x'], ctl.signal)).rejects.toMatchObject({
      code: 'E_ABORTED',
    });
  });
});
