/**
 * Text normalisation shared by the offline responder and the hashed embeddings: lowercase, accents folded
 * ("horário" → "horario"), pt-BR and English stopwords dropped, and a crude stem (plurals and a few verb
 * endings undone, then cut to six letters) so "horários", "horario" and "horarios" meet, as do "funciona"
 * and "funcionamento", "ficam" and "fica".
 * Truncation stemming is blunt, but for short FAQ passages it beats a language-specific stemmer we would
 * have to maintain for two languages.
 */

/** Letters kept by the stemmer: long enough to tell "consulta" from "contato", short enough to merge inflections. */
const STEM_LENGTH = 6;

// Both languages at once: callers mix them ("ok, obrigado"), and a pt word that is an English stopword
// (or the reverse) carries little meaning in either. Conversational filler ("gostaria de saber") is here too,
// because it says nothing about which passage answers the question.
const STOPWORDS = new Set(
  // pt-BR
  (
    'a o as os um uma uns umas de da do das dos em na no nas nos num numa ao aos pra pro pras pros para por ' +
    'pelo pela pelos pelas com sem sob sobre entre ate apos e ou mas nem que se como quando onde qual quais ' +
    'quem quanto quanta quantos quantas cujo porque pois entao tambem ja ainda so muito muita muitos muitas ' +
    'mais menos bem mal aqui ali la isso isto aquilo esse essa esses essas este esta estes estas aquele ' +
    'aquela eu tu ele ela nos vos eles elas voce voces me te lhe lhes meu minha meus minhas seu sua seus suas ' +
    'nosso nossa nossos nossas dele dela deles delas ser sou e era foi sao estou estamos estao estava ter tem ' +
    'tenho temos tinha ha haver vai vou vamos fazer faz faco pode posso podem poderia podia gostaria queria ' +
    'quero quer preciso precisava saber sei diga dizer informar favor oi ola alo bom boa tudo ' +
    'algum alguma alguns algumas todo toda todos todas outro outra cada qualquer sim nao ok certo entendi ' +
    // English
    'the an and or but if of at by for with about into from to in on off out over under up down is are was ' +
    'were be been being am do does did done have has had having i me my we our ours you your yours he him his ' +
    'she her it its they them their what which who whom this that these those there here when where why how ' +
    'all any both each few more most other some such no nor not only own same so than too very can could will ' +
    'would should may might must shall just want wanted like need know tell please hi hello hey yes yeah okay ' +
    'ok get got let us'
  ).split(' '),
);

/** Lowercase, with diacritics removed: "Horário É" → "horario e". */
export function foldAccents(text: string): string {
  return text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
}

/**
 * The folded text as words separated by single spaces, padded with a space at both ends, so a phrase can be
 * looked up with `includes(' falar com ')` without matching inside another word.
 */
export function phraseText(text: string): string {
  const words = foldAccents(text).match(/[\p{L}\p{N}]+/gu) ?? [];
  return ` ${words.join(' ')} `;
}

/** True when any of the (folded, space-separated) phrases occurs in `padded` (from `phraseText`) as whole words. */
export function hasPhrase(padded: string, phrases: readonly string[]): boolean {
  return phrases.some((p) => padded.includes(` ${p} `));
}

/** Stemmed content words of `text`, in order, duplicates kept (term frequency matters to the scorers). */
export function contentTokens(text: string): string[] {
  const out: string[] = [];
  for (const word of foldAccents(text).match(/[\p{L}\p{N}]+/gu) ?? []) {
    if (STOPWORDS.has(word)) continue;
    if (word.length < 2 && !/\d/.test(word)) continue;
    out.push(stem(word));
  }
  return out;
}

/** Suffix rewrites tried in order, first match only, on words longer than `min` letters. */
const SUFFIXES: readonly { from: string; to: string; min: number }[] = [
  { from: 'oes', to: 'ao', min: 4 }, // informacoes → informacao
  { from: 'aes', to: 'ao', min: 4 }, // paes → pao
  { from: 'ns', to: 'm', min: 4 }, // viagens → viagem
  { from: 'ing', to: '', min: 5 }, // opening → open
  { from: 'ss', to: 'ss', min: 0 }, // keeps "access" whole: not a plural
  { from: 's', to: '', min: 3 }, // horarios → horario, hours → hour
];

function stem(word: string): string {
  let w = word;
  for (const { from, to, min } of SUFFIXES) {
    if (w.length > min && w.endsWith(from)) {
      w = w.slice(0, w.length - from.length) + to;
      break;
    }
  }
  // Third person plural: ficam → fica, abrem → abre, atendem → atende.
  if (w.length > 4 && (w.endsWith('am') || w.endsWith('em'))) w = w.slice(0, -1);
  return w.slice(0, STEM_LENGTH);
}
