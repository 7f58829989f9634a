/** Fixed phrases the secretary says outside the LLM, per language; pt-BR first, English fallback. */
export interface Phrases {
  greeting: string;
  farewell: string;
  stillThere: string;
  apology: string;
  transferring: string;
  oneMoment: string;
  noOperator: string;
}

const PT_BR: Phrases = {
  greeting: 'Olá! Como posso ajudar?',
  farewell: 'Obrigada pela ligação. Até logo!',
  stillThere: 'Você ainda está aí?',
  apology: 'Desculpe, estou com um problema técnico no momento.',
  transferring: 'Vou transferir sua ligação. Um momento, por favor.',
  oneMoment: 'Um momento, por favor.',
  noOperator: 'No momento não há um atendente disponível.',
};

const EN: Phrases = {
  greeting: 'Hello! How can I help you?',
  farewell: 'Thank you for calling. Goodbye!',
  stillThere: 'Are you still there?',
  apology: "I'm sorry, I'm having a technical problem right now.",
  transferring: "I'll transfer your call now. One moment, please.",
  oneMoment: 'One moment, please.',
  noOperator: 'There is no one available to take your call right now.',
};

const ES: Phrases = {
  greeting: '¡Hola! ¿En qué puedo ayudarle?',
  farewell: 'Gracias por llamar. ¡Hasta luego!',
  stillThere: '¿Sigue ahí?',
  apology: 'Lo siento, tengo un problema técnico en este momento.',
  transferring: 'Voy a transferir su llamada. Un momento, por favor.',
  oneMoment: 'Un momento, por favor.',
  noOperator: 'En este momento no hay nadie disponible.',
};

export function phrasesFor(language: string): Phrases {
  const lang = language.toLowerCase();
  if (lang.startsWith('pt')) return PT_BR;
  if (lang.startsWith('es')) return ES;
  return EN;
}

/** The system prompt the LLM sees: the tenant's prompt plus the rules every secretary follows on the phone. */
export function buildSystemPrompt(opts: {
  secretaryName: string;
  systemPrompt: string;
  language: string;
  canTransfer: boolean;
  knowledge?: string[];
  now?: Date;
  timezone?: string;
}): string {
  const parts = [
    opts.systemPrompt.trim() ||
      `You are ${opts.secretaryName}, a friendly virtual secretary answering the phone.`,
    `Always answer in ${opts.language}. You are speaking on a phone call: answer in short, natural spoken sentences,` +
      ' no lists, no markdown, no emojis, no URLs unless asked.',
    'When the caller has what they need and says goodbye, call end_call.',
  ];
  if (opts.canTransfer) {
    parts.push('When the caller asks for a person, or you cannot help, call transfer_to_operator.');
  }
  if (opts.now) {
    const when = opts.now.toLocaleString('en-US', {
      timeZone: opts.timezone ?? 'UTC',
      dateStyle: 'full',
      timeStyle: 'short',
    });
    parts.push(`Current date and time: ${when} (${opts.timezone ?? 'UTC'}).`);
  }
  if (opts.knowledge && opts.knowledge.length > 0) {
    parts.push(`Facts you may use to answer:\n${opts.knowledge.map((k) => `- ${k}`).join('\n')}`);
  }
  return parts.join('\n');
}
