/**
 * What the offline responder recognises besides questions: greetings, thanks, goodbyes, requests for a
 * person, and yes/no after it offered a transfer. Phrases are folded (no accents) and matched as whole
 * words; both languages are always checked, since callers mix them ("ok, thank you", "bye, obrigado").
 */
import { hasPhrase, phraseText } from './text.js';

export type Intent = 'person' | 'goodbye' | 'thanks' | 'greeting' | 'yes' | 'no';

const PHRASES: Readonly<Record<Intent, readonly string[]>> = {
  person: [
    'falar com',
    'falar com alguem',
    'atendente',
    'humano',
    'humana',
    'pessoa',
    'operador',
    'operadora',
    'recepcionista',
    'transferir',
    'transfere',
    'transfira',
    'transferencia',
    'speak to',
    'speak with',
    'talk to',
    'talk with',
    'operator',
    'human',
    'person',
    'representative',
    'transfer',
  ],
  goodbye: [
    'tchau',
    'ate logo',
    'ate mais',
    'ate breve',
    'ate amanha',
    'adeus',
    'so isso',
    'era isso',
    'era so isso',
    'mais nada',
    'nada mais',
    'bye',
    'goodbye',
    'bye bye',
    'see you',
    'that s all',
    'that is all',
    'nothing else',
  ],
  thanks: ['obrigado', 'obrigada', 'brigado', 'brigada', 'valeu', 'agradeco', 'thanks', 'thank you', 'thank'],
  greeting: [
    'oi',
    'ola',
    'alo',
    'bom dia',
    'boa tarde',
    'boa noite',
    'tudo bem',
    'hello',
    'hi',
    'hey',
    'good morning',
    'good afternoon',
    'good evening',
  ],
  yes: [
    'sim',
    'pode',
    'pode ser',
    'claro',
    'quero',
    'por favor',
    'yes',
    'yeah',
    'sure',
    'please',
    'ok',
    'okay',
  ],
  no: ['nao', 'nao obrigado', 'nao precisa', 'no', 'nope', 'no thanks'],
};

// A request for a person that is turned down in the same breath is not one.
const NOT_PERSON = [
  'nao quero falar',
  'nao precisa',
  'sem atendente',
  'don t want to',
  'do not want to',
  'no need',
  'in person',
];

export interface Analysis {
  intents: ReadonlySet<Intent>;
  /** The message with every recognised phrase removed: what is left to look up in the knowledge. */
  residual: string;
}

/** The intents a caller's message shows, and the rest of it. */
export function analyze(message: string): Analysis {
  const padded = phraseText(message);
  const intents = new Set<Intent>();
  for (const [intent, phrases] of Object.entries(PHRASES) as [Intent, readonly string[]][]) {
    if (hasPhrase(padded, phrases)) intents.add(intent);
  }
  if (intents.has('person') && hasPhrase(padded, NOT_PERSON)) intents.delete('person');
  let residual = padded;
  // Longest first, so "bom dia" goes before "dia" would, and "era so isso" before "so isso".
  const all = Object.values(PHRASES)
    .flat()
    .sort((a, b) => b.length - a.length);
  for (const p of all) residual = residual.split(` ${p} `).join('  ');
  return { intents, residual: residual.replace(/\s+/g, ' ').trim() };
}

export interface LocalPhrases {
  greeting: string;
  howCanIHelp: string;
  /** Said when no passage answers; followed by `offerTransfer` when a transfer is possible. */
  unknown: string;
  offerTransfer: string;
  unknownAskAgain: string;
  transferring: string;
  cannotTransfer: string;
  closingThanks: string;
  closingGoodbye: string;
  declined: string;
  followUp: string;
}

const PT_BR: LocalPhrases = {
  greeting: 'Olá! Como posso ajudar?',
  howCanIHelp: 'Como posso ajudar?',
  unknown: 'Desculpe, não sei responder isso.',
  offerTransfer: 'Posso transferir para um atendente?',
  unknownAskAgain: 'Desculpe, não sei responder isso. Pode perguntar de outra forma?',
  transferring: 'Claro, vou transferir para um atendente.',
  cannotTransfer: 'No momento não consigo transferir a ligação, mas posso tentar ajudar. O que você precisa?',
  closingThanks: 'Por nada, foi um prazer ajudar.',
  closingGoodbye: 'Foi um prazer ajudar.',
  declined: 'Tudo bem. Posso ajudar em algo mais?',
  followUp: 'Posso ajudar em algo mais?',
};

const EN: LocalPhrases = {
  greeting: 'Hello! How can I help you?',
  howCanIHelp: 'How can I help you?',
  unknown: "Sorry, I don't know the answer to that.",
  offerTransfer: 'Shall I transfer you to an operator?',
  unknownAskAgain: "Sorry, I don't know the answer to that. Could you ask it another way?",
  transferring: "Sure, I'll transfer you to an operator.",
  cannotTransfer: "I can't transfer the call right now, but I can try to help. What do you need?",
  closingThanks: "You're welcome, glad I could help.",
  closingGoodbye: 'It was a pleasure to help.',
  declined: 'All right. Is there anything else I can help with?',
  followUp: 'Is there anything else I can help with?',
};

/** pt-BR for any Portuguese tag, English otherwise. */
export function localPhrases(language: string): LocalPhrases {
  return language.toLowerCase().startsWith('pt') ? PT_BR : EN;
}
