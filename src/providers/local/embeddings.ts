/**
 * `local-hash` embeddings: a hashed bag of words (the "hashing trick"), so the knowledge-base pipeline runs
 * offline. Words are the responder's (accent-folded, stopwords dropped, stemmed); each adds 1 + ln(tf) at
 * an FNV-1a bucket with a hash-chosen sign (collisions then cancel instead of piling up), and the vector is
 * L2-normalised, so a dot product is the cosine. Texts sharing words are close; no semantics beyond that.
 */
import { throwIfAborted } from '../../core/abort.js';
import type { EmbeddingsProvider, ProviderInfo } from '../types.js';
import { contentTokens } from './text.js';

export const DEFAULT_HASH_DIMENSIONS = 256;
/** The model name stored beside the vectors; bump it if the tokenisation or hashing ever changes. */
export const LOCAL_HASH_MODEL = 'local-hash-v1';

export function createLocalHashEmbeddings(info: ProviderInfo, dimensions: number): EmbeddingsProvider {
  return {
    info,
    dimensions,
    async embed(texts, signal) {
      throwIfAborted(signal);
      return texts.map((t) => hashVector(t, dimensions));
    },
  };
}

/** The vector of one text; all zeros when it has no content word. */
export function hashVector(text: string, dimensions: number): number[] {
  const counts = new Map<string, number>();
  for (const t of contentTokens(text)) counts.set(t, (counts.get(t) ?? 0) + 1);
  const v = new Array<number>(dimensions).fill(0);
  for (const [token, tf] of counts) {
    const h = fnv1a(token);
    const bucket = h % dimensions;
    const sign = (h >>> 31) & 1 ? -1 : 1;
    v[bucket] = (v[bucket] ?? 0) + sign * (1 + Math.log(tf));
  }
  const norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
  return norm === 0 ? v : v.map((x) => x / norm);
}

/** 32-bit FNV-1a over the UTF-16 code units; stable across platforms and Node versions. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
