/**
 * The offline responder's knowledge: a tenant's text cut into passages and ranked with BM25. Passages are
 * FAQ pairs (`Q:`/`A:`, or pt-BR `P:`/`R:`), bullet lines, or paragraphs (long ones in sentence-bounded
 * pieces, so an answer stays a few spoken sentences). Everything is deterministic: ties go to the earlier
 * passage.
 */
import { contentTokens } from './text.js';

export interface Passage {
  /** What the secretary says when this passage answers. */
  readonly answer: string;
  /** Stemmed content words scored against a question; an FAQ's question counts twice. */
  readonly tokens: readonly string[];
}

export interface KnowledgeHit {
  readonly passage: Passage;
  readonly score: number;
  /** Share (0..1) of the question's IDF weight found in the passage: how much of the question it covers. */
  readonly coverage: number;
}

export interface KnowledgeIndex {
  readonly size: number;
  /** The best passage for the question's tokens, or undefined when none shares a word with it. */
  search(queryTokens: readonly string[]): KnowledgeHit | undefined;
}

/** Spoken answers longer than this are split at sentence ends into several passages. */
const MAX_PASSAGE_CHARS = 320;
const K1 = 1.2;
const B = 0.75;

const QUESTION = /^\s*(?:q|p|pergunta|question)\s*:\s*(.*)$/i;
const ANSWER = /^\s*(?:a|r|resposta|answer)\s*:\s*(.*)$/i;
const HEADING = /^\s*#+\s*(.*)$/;
const BULLET = /^\s*(?:[-*•]|\d+[.)])\s+(.*)$/;

/** Cuts a knowledge text into passages; blank lines separate paragraphs and end an FAQ answer. */
export function parseKnowledge(text: string): Passage[] {
  const passages: Passage[] = [];
  let title = '';
  let question: string[] | undefined;
  let answer: string[] | undefined;
  let paragraph: string[] = [];

  const flush = (): void => {
    if (question !== undefined && answer !== undefined && answer.length > 0) {
      const q = question.join(' ');
      const a = answer.join(' ');
      passages.push({ answer: a, tokens: contentTokens(`${title} ${q} ${q} ${a}`) });
    }
    question = answer = undefined;
    if (paragraph.length > 0) {
      for (const piece of splitLong(paragraph.join(' '))) {
        passages.push({ answer: piece, tokens: contentTokens(`${title} ${piece}`) });
      }
      paragraph = [];
    }
  };

  for (const raw of text.replace(/\r\n?/g, '\n').split('\n')) {
    const line = raw.trim();
    let m: RegExpExecArray | null;
    if (line === '') {
      flush();
    } else if ((m = HEADING.exec(line))) {
      flush();
      title = m[1] ?? '';
    } else if ((m = QUESTION.exec(line))) {
      flush();
      question = [m[1] ?? ''];
    } else if (question !== undefined && (m = ANSWER.exec(line))) {
      answer = [m[1] ?? ''];
    } else if (answer !== undefined) {
      answer.push(line);
    } else if (question !== undefined) {
      question.push(line);
    } else if ((m = BULLET.exec(line))) {
      flush();
      paragraph = [m[1] ?? ''];
      flush();
    } else {
      paragraph.push(line);
    }
  }
  flush();
  return passages.filter((p) => p.answer.trim() !== '' && p.tokens.length > 0);
}

function splitLong(text: string): string[] {
  if (text.length <= MAX_PASSAGE_CHARS) return [text];
  const sentences = text.match(/[^.!?]+(?:[.!?]+|$)/g) ?? [text];
  const pieces: string[] = [];
  let current = '';
  for (const s of sentences.map((x) => x.trim()).filter((x) => x !== '')) {
    if (current !== '' && current.length + 1 + s.length > MAX_PASSAGE_CHARS) {
      pieces.push(current);
      current = s;
    } else {
      current = current === '' ? s : `${current} ${s}`;
    }
  }
  if (current !== '') pieces.push(current);
  return pieces;
}

/** A BM25 index over the passages (k1 1.2, b 0.75). */
export function createKnowledgeIndex(passages: readonly Passage[]): KnowledgeIndex {
  const n = passages.length;
  const docFreq = new Map<string, number>();
  const termFreqs = passages.map((p) => {
    const tf = new Map<string, number>();
    for (const t of p.tokens) tf.set(t, (tf.get(t) ?? 0) + 1);
    for (const t of tf.keys()) docFreq.set(t, (docFreq.get(t) ?? 0) + 1);
    return tf;
  });
  const avgLength = n === 0 ? 0 : passages.reduce((sum, p) => sum + p.tokens.length, 0) / n;
  // Never negative (unlike the original Robertson IDF); a word in no passage weighs the most.
  const idf = (t: string): number => {
    const df = docFreq.get(t) ?? 0;
    return Math.log(1 + (n - df + 0.5) / (df + 0.5));
  };

  return {
    size: n,
    search(queryTokens) {
      const terms = [...new Set(queryTokens)];
      const totalWeight = terms.reduce((sum, t) => sum + idf(t), 0);
      let best: KnowledgeHit | undefined;
      passages.forEach((passage, i) => {
        const tf = termFreqs[i] ?? new Map<string, number>();
        const norm = K1 * (1 - B + (B * passage.tokens.length) / (avgLength || 1));
        let score = 0;
        let matched = 0;
        for (const t of terms) {
          const f = tf.get(t) ?? 0;
          if (f === 0) continue;
          const w = idf(t);
          score += (w * f * (K1 + 1)) / (f + norm);
          matched += w;
        }
        if (score > 0 && (best === undefined || score > best.score)) {
          best = { passage, score, coverage: totalWeight > 0 ? matched / totalWeight : 0 };
        }
      });
      return best;
    },
  };
}
