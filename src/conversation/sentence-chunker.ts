/**
 * Splits a streamed LLM reply into sentences for TTS, so the first sentence is synthesized while the model is
 * still writing the rest. The result depends only on the text, never on how it was split into deltas: a
 * '.' at the end of the buffer stays undecided until the characters after it arrive (or `flush`).
 *
 * A sentence ends at . ! ? … (runs like "?!" or "..." included, closing quotes/brackets too) followed by
 * whitespace and then an uppercase letter, a digit, an opening quote/bracket/bullet or the end of the text;
 * and at every newline. A single '.' does not end a sentence after an abbreviation (Sr., Dra., e.g., nº),
 * an initial (J. K. Rowling), a dotted abbreviation (S.A., p.ex.) or a list number ("opções: 1. Vendas,
 * 2. Suporte"). Decimals, times, URLs and e-mails never have whitespace after their dots, so they never
 * split.
 */
import { InvalidInputError } from '../core/errors.js';

export interface SentenceChunkerOptions {
  /** BCP 47 tag ('pt-BR', 'en-US', ...); picks the abbreviation list. */
  language: string;
  /**
   * Sentences shorter than this are held and sent together with the next one (TTS prosody and per-request
   * overhead suffer on fragments like "Sim."). Never applied to the first sentence: it goes out at once.
   */
  minChars?: number;
  /** A sentence running longer than this without an end is cut at the last comma (else space) before it. */
  maxChars?: number;
  /** `maxChars` for the first sentence, lower so the caller hears something sooner. */
  firstMaxChars?: number;
  /** Strip markdown and emoji from each sentence (`toSpeakable`); default true. */
  speakable?: boolean;
}

export interface SentenceChunker {
  /** Adds a delta; returns the sentences now known to be complete, in order. */
  push(delta: string): string[];
  /** Ends the text: returns everything still pending, and resets for reuse. */
  flush(): string[];
}

interface Abbrev {
  /** Only an abbreviation when a digit follows ("No. 5", "n. 12"); otherwise a normal word. */
  digitOnly?: boolean;
}

const SHARED_ABBREVS = 'Dr Dra Drs Prof Profa Sr Sra Srs Jr Inc Ltd Ltda Co vs'.split(' ');
const PT_ABBREVS = (
  'Srta Sras Dras Profs Exmo Exma Ilmo Ilma Sta Sto Av R Al Pça ' +
  'nº núm tel cel Cia aprox min seg pág cap vol apto Eng'
).split(' ');
const EN_ABBREVS = 'Mr Mrs Ms St Mt Ave Apt Dept Corp approx ext Fig Gen Capt'.split(' ');
// Deliberately absent: "etc." (ends a sentence before an uppercase word, like any word) and units such as
// "km." or "h.", which often close one.
/** Only abbreviations when a digit follows ("No. 5", "n. 12"); otherwise ordinary words ("No. Thanks."). */
const DIGIT_ONLY = ['n', 'No', 'Nos'];
/** Words after which a number can continue a list ("1. Vendas, 2. Suporte e 3. Financeiro"). */
const LIST_JOINERS = new Set(['e', 'ou', 'and', 'or']);

const TERMINATORS = '.!?…';
const CLOSERS = `"'”’»)]*_\``;
const LEAD_PUNCT = `"'“‘«([¿¡*_\``;
const OPENER = /^["'“‘«([¿¡*_`#•\-—–]|^\p{Extended_Pictographic}/u;
const STARTS_SENTENCE = /^[\p{Lu}\p{Lt}\p{Nd}]/u;

/**
 * Portuguese replies routinely carry English titles and company names (Mr., Inc.), so pt (and any language
 * without a list of its own) gets every list; English text rarely carries Portuguese ones, so en skips those.
 */
function abbreviationsFor(language: string): Map<string, Abbrev> {
  const primary = language.toLowerCase().split(/[-_]/)[0] ?? '';
  const map = new Map<string, Abbrev>();
  const add = (list: readonly string[], a: Abbrev): void => {
    for (const w of list) map.set(w, a);
  };
  add(SHARED_ABBREVS, {});
  if (primary !== 'en') add(PT_ABBREVS, {});
  add(EN_ABBREVS, {});
  add(DIGIT_ONLY, { digitOnly: true });
  return map;
}

type Decision = { kind: 'end'; end: number } | { kind: 'skip'; to: number } | { kind: 'wait' };

const isSpace = (c: string | undefined): boolean => c !== undefined && /\s/u.test(c);
const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

export function createSentenceChunker(opts: SentenceChunkerOptions): SentenceChunker {
  const minChars = opts.minChars ?? 20;
  const maxChars = opts.maxChars ?? 220;
  const firstMaxChars = opts.firstMaxChars ?? Math.min(maxChars, 100);
  const speakable = opts.speakable ?? true;
  if (!(maxChars >= 8 && firstMaxChars >= 8 && minChars >= 0)) {
    throw new InvalidInputError('sentence chunker: maxChars and firstMaxChars must be >= 8, minChars >= 0');
  }
  const abbrevs = abbreviationsFor(opts.language);

  let buf = ''; // text not yet emitted; always starts at a sentence start once scanning begins
  let pos = 0; // every terminator before pos has been decided "not an end"
  let outCount = 0;
  let held: string | undefined;

  const deliver = (raw: string, atNewline: boolean, out: string[]): void => {
    let s = speakable ? toSpeakable(raw) : raw.trim();
    if (s === '') return;
    if (held !== undefined) {
      s = `${held} ${s}`;
      held = undefined;
    }
    if (outCount === 0 || s.length >= minChars) {
      out.push(s);
      outCount++;
    } else {
      // A short line without punctuation (a list item, a heading) gets a full stop before being joined to
      // the next one, or TTS reads the two as one run-on phrase.
      held = speakable && atNewline && !/[.!?…:;,]$/u.test(s) ? `${s}.` : s;
    }
  };

  const cut = (at: number, skip: number, out: string[]): void => {
    deliver(buf.slice(0, at), skip === 1, out);
    buf = buf.slice(at + skip);
    pos = 0;
  };

  const scan = (final: boolean, out: string[]): void => {
    for (;;) {
      if (pos === 0) buf = buf.trimStart();
      if (buf === '') return;
      const limit = outCount === 0 ? firstMaxChars : maxChars;
      if (pos >= limit && pos < buf.length) {
        cut(forcedCut(buf, limit), 0, out);
        continue;
      }
      if (pos >= buf.length) {
        if (final) cut(buf.length, 0, out);
        return;
      }
      const c = buf[pos] ?? '';
      if (c === '\n') {
        cut(pos, 1, out);
      } else if (TERMINATORS.includes(c)) {
        const d = decide(buf, pos, final, abbrevs);
        if (d.kind === 'wait') return;
        if (d.kind === 'end') cut(d.end, 0, out);
        else pos = d.to;
      } else {
        pos++;
      }
    }
  };

  return {
    push(delta) {
      const out: string[] = [];
      buf += delta;
      scan(false, out);
      return out;
    },
    flush() {
      const out: string[] = [];
      scan(true, out);
      if (held !== undefined) out.push(held);
      buf = '';
      pos = outCount = 0;
      held = undefined;
      return out;
    },
  };
}

/** Decides whether the terminator at `i` ends a sentence; may need characters that have not arrived yet. */
function decide(buf: string, i: number, final: boolean, abbrevs: Map<string, Abbrev>): Decision {
  let j = i;
  while (j < buf.length && TERMINATORS.includes(buf[j] ?? '')) j++;
  const run = buf.slice(i, j);
  while (j < buf.length && CLOSERS.includes(buf[j] ?? '')) j++;
  if (j === buf.length) return final ? { kind: 'end', end: j } : { kind: 'wait' };
  if (!isSpace(buf[j])) return { kind: 'skip', to: j }; // 3.5, 14.30, example.com, "?!x"
  let k = j;
  let newline = false;
  while (k < buf.length && isSpace(buf[k])) if (buf[k++] === '\n') newline = true;
  if (newline) return { kind: 'end', end: j };
  if (k === buf.length) return final ? { kind: 'end', end: j } : { kind: 'wait' };
  // Two UTF-16 units: enough to classify an emoji, whose surrogate halves may arrive in different deltas.
  if (k + 1 === buf.length && isHighSurrogate(buf.charCodeAt(k)) && !final) return { kind: 'wait' };
  const next = buf.slice(k, k + 2);
  if (!STARTS_SENTENCE.test(next) && !OPENER.test(next)) return { kind: 'skip', to: j };
  if (run === '.' && !periodEnds(buf, i, next, abbrevs)) return { kind: 'skip', to: j };
  return { kind: 'end', end: j };
}

/** For a lone '.' followed by whitespace and a sentence-like start: is it really the end? */
function periodEnds(buf: string, i: number, next: string, abbrevs: Map<string, Abbrev>): boolean {
  let s = i;
  while (s > 0 && !isSpace(buf[s - 1])) s--;
  while (s < i && LEAD_PUNCT.includes(buf[s] ?? '')) s++;
  const tok = buf.slice(s, i);
  if (tok === '') return true;
  // "Tel." and "Aprox." open sentences too; single letters keep their case ("N." is an initial, "n." is not).
  const entry =
    abbrevs.get(tok) ?? (tok.length > 1 ? abbrevs.get(tok[0]?.toLowerCase() + tok.slice(1)) : undefined);
  if (entry) return entry.digitOnly === true && !/^\p{Nd}/u.test(next);
  if (/^\p{Lu}$/u.test(tok)) return false; // an initial: "J. K. Rowling"
  // Dotted abbreviations and initials: S.A., e.g., i.e., p.ex., a.C., J.K.
  if (tok.includes('.') && tok.split('.').every((p) => /^\p{L}{1,2}$/u.test(p))) return false;
  if (/^\d{1,3}$/.test(tok)) return !isListNumber(buf.slice(0, s));
  return true;
}

/** `before` is the sentence up to a short number followed by '.': is that number a list marker? */
function isListNumber(before: string): boolean {
  const b = before.trimEnd();
  if (/^[-*+•>#\s]*$/u.test(b)) return true; // the number opens the sentence or list item
  const last = b[b.length - 1] ?? '';
  if (last === ':' || last === '(') return true;
  const earlierMarker = /(?:^|[\s:;,(])\d{1,3}\.\s/.test(b);
  if (!earlierMarker) return false;
  if (last === ',' || last === ';') return true;
  const word = /(\p{L}+)$/u.exec(b)?.[1]?.toLowerCase();
  return word !== undefined && LIST_JOINERS.has(word);
}

/** Where to cut a sentence with no end in its first `limit` characters; looks only at those characters. */
function forcedCut(buf: string, limit: number): number {
  const lo = Math.floor(limit / 2);
  for (let p = limit - 2; p >= lo; p--) {
    if (',;:—–'.includes(buf[p] ?? 'x') && isSpace(buf[p + 1])) return p + 1;
  }
  for (let p = limit - 1; p > 0; p--) if (isSpace(buf[p])) return p;
  return limit;
}

/**
 * Text as it should be spoken: markdown (headings, bullets, emphasis, code, links, tables, rules) and emoji
 * removed, whitespace collapsed. Numbered list markers ("1.") are kept; they read naturally.
 */
export function toSpeakable(text: string): string {
  return text
    .replace(/```[^\n]*/g, ' ')
    .replace(/!?\[([^\]\n]*)\]\([^)\n]*\)/g, '$1')
    .replace(/^[ \t]*(?:#{1,6}|>+)[ \t]*/gm, '')
    .replace(/^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$/gm, '')
    .replace(/^[ \t]*[-*+•][ \t]+/gm, '')
    .replace(/\*+|~~|`/g, '')
    .replace(/(^|[\s(])_{1,2}([^_\n]+?)_{1,2}(?=$|[\s).,!?;:])/g, '$1$2')
    .replace(/\|/g, ' ')
    .replace(/\p{Extended_Pictographic}|\p{Emoji_Modifier}|\p{Regional_Indicator}|\uFE0F|\u200D|\u20E3/gu, '')
    .replace(/\s+/g, ' ')
    .trim();
}
