import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createSentenceChunker,
  toSpeakable,
  type SentenceChunkerOptions,
} from '../../src/conversation/sentence-chunker.js';

type Opts = Omit<SentenceChunkerOptions, 'language'>;

function whole(language: string, text: string, opts: Opts = {}): string[] {
  const c = createSentenceChunker({ language, ...opts });
  return [...c.push(text), ...c.flush()];
}

function pieces(language: string, parts: string[], opts: Opts = {}): string[] {
  const c = createSentenceChunker({ language, ...opts });
  const out: string[] = [];
  for (const p of parts) out.push(...c.push(p));
  return [...out, ...c.flush()];
}

function splitAt(text: string, cuts: number[]): string[] {
  const parts: string[] = [];
  let prev = 0;
  for (const c of [...new Set(cuts)].sort((a, b) => a - b)) {
    parts.push(text.slice(prev, c));
    prev = c;
  }
  parts.push(text.slice(prev));
  return parts;
}

/** Whole text, one character at a time, and random splits must all give `expected`. */
function expectChunks(language: string, text: string, expected: string[], opts: Opts = {}): void {
  expect(whole(language, text, opts)).toEqual(expected);
  expect(pieces(language, Array.from(text), opts)).toEqual(expected);
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: text.length }), { maxLength: 12 }), (cuts) => {
      expect(pieces(language, splitAt(text, cuts), opts)).toEqual(expected);
    }),
    { seed: 1234, numRuns: 60 },
  );
}

// minChars 0: these cases are about where sentences end, not about merging short ones.
const exact: Opts = { minChars: 0 };

const ptCases: Array<[string, string, string[]]> = [
  [
    'plain sentences',
    'Olá! Sou a secretária virtual da Acme. Como posso ajudar?',
    ['Olá!', 'Sou a secretária virtual da Acme.', 'Como posso ajudar?'],
  ],
  [
    'titles',
    'O Sr. João e a Sra. Ana chegaram. A Dra. Maria, o Dr. Paulo e a Srta. Bia também.',
    ['O Sr. João e a Sra. Ana chegaram.', 'A Dra. Maria, o Dr. Paulo e a Srta. Bia também.'],
  ],
  [
    'address',
    'O Prof. Carlos e a Profa. Lúcia ficam na Av. Paulista, nº. 1000, perto da R. Augusta. Certo?',
    ['O Prof. Carlos e a Profa. Lúcia ficam na Av. Paulista, nº. 1000, perto da R. Augusta.', 'Certo?'],
  ],
  [
    'phone numbers',
    'Ligue no tel. 3003-1234 ou no Tel. 4004-5678, ramal n. 12. Obrigado.',
    ['Ligue no tel. 3003-1234 ou no Tel. 4004-5678, ramal n. 12.', 'Obrigado.'],
  ],
  [
    'companies',
    'Fale com a Acme Ltda. Ou com a Beta S.A. Ambas atendem.',
    ['Fale com a Acme Ltda. Ou com a Beta S.A. Ambas atendem.'],
  ],
  [
    'etc.',
    'Trouxe papel, caneta etc. e voltei. Depois livros, cadernos etc. Chegou tudo.',
    ['Trouxe papel, caneta etc. e voltei.', 'Depois livros, cadernos etc.', 'Chegou tudo.'],
  ],
  [
    'p.ex., aprox., min., seg.',
    'Use um cartão, p.ex. Visa. Leva aprox. 5 min. Ou 30 seg. Para confirmar.',
    ['Use um cartão, p.ex. Visa.', 'Leva aprox. 5 min. Ou 30 seg. Para confirmar.'],
  ],
  [
    'honorifics',
    'O Exmo. Sr. Prefeito visitou a Sta. Teresa e o Sto. Antônio. Foi bom.',
    ['O Exmo. Sr. Prefeito visitou a Sta. Teresa e o Sto. Antônio.', 'Foi bom.'],
  ],
  [
    'numbers',
    'A taxa é de 3,5% ou 3.5 pontos. O total é R$ 1.234,56. Abrimos às 14.30. Até logo!',
    ['A taxa é de 3,5% ou 3.5 pontos.', 'O total é R$ 1.234,56.', 'Abrimos às 14.30.', 'Até logo!'],
  ],
  [
    'numbered options',
    'Temos três opções: 1. Vendas, 2. Suporte e 3. Financeiro. Qual prefere?',
    ['Temos três opções: 1. Vendas, 2. Suporte e 3. Financeiro.', 'Qual prefere?'],
  ],
  [
    'number at the end',
    'Para vendas, digite 1. Para suporte, digite 2. Custa 10 reais. 20 se for entrega.',
    ['Para vendas, digite 1.', 'Para suporte, digite 2.', 'Custa 10 reais.', '20 se for entrega.'],
  ],
  [
    'ellipsis',
    'Bem... deixa eu ver. Hmm… Certo. Então... Pode ser amanhã?',
    ['Bem... deixa eu ver.', 'Hmm…', 'Certo.', 'Então...', 'Pode ser amanhã?'],
  ],
  [
    'url and e-mail',
    'Acesse www.example.com.br ou escreva para contato@acme.com.br. Veja https://acme.com.br/ajuda?x=1. Obrigado.',
    [
      'Acesse www.example.com.br ou escreva para contato@acme.com.br.',
      'Veja https://acme.com.br/ajuda?x=1.',
      'Obrigado.',
    ],
  ],
  [
    'initials',
    'J. K. Rowling e J.R.R. Tolkien escreveram muito. Eu li os dois.',
    ['J. K. Rowling e J.R.R. Tolkien escreveram muito.', 'Eu li os dois.'],
  ],
  [
    'newlines',
    'Horários:\nSegunda a sexta\n\nSábado até meio-dia',
    ['Horários:', 'Segunda a sexta', 'Sábado até meio-dia'],
  ],
  [
    'quotes and brackets',
    'Ele disse: "Pode entrar." Depois saiu. (Ela ficou.) «Fim!» Certo.',
    ['Ele disse: "Pode entrar."', 'Depois saiu.', '(Ela ficou.)', '«Fim!»', 'Certo.'],
  ],
  [
    '?! runs and lowercase after ...',
    'Sério?! Não acredito... mas tudo bem. Ok!',
    ['Sério?!', 'Não acredito... mas tudo bem.', 'Ok!'],
  ],
  ['lowercase after a period', 'Isso é tudo. e mais nada. Fim.', ['Isso é tudo. e mais nada.', 'Fim.']],
  ['no whitespace after the mark', 'Vamos?Sim.Agora! Pronto.', ['Vamos?Sim.Agora!', 'Pronto.']],
];

const enCases: Array<[string, string, string[]]> = [
  [
    'titles',
    'Mr. Smith and Mrs. Jones met Ms. Lee and Dr. Brown. They talked.',
    ['Mr. Smith and Mrs. Jones met Ms. Lee and Dr. Brown.', 'They talked.'],
  ],
  [
    'St. and No.',
    'She lives on St. Mark Street in Room No. 5. It is nice.',
    ['She lives on St. Mark Street in Room No. 5.', 'It is nice.'],
  ],
  ['No. as a word', 'Do you want it? No. Thanks anyway.', ['Do you want it?', 'No.', 'Thanks anyway.']],
  [
    'e.g. and i.e.',
    'Bring fruit, e.g. Apples, or snacks, i.e. Chips. Thanks.',
    ['Bring fruit, e.g. Apples, or snacks, i.e. Chips.', 'Thanks.'],
  ],
  [
    'vs., Inc., Ltd.',
    'It was Acme vs. Globex. Acme Inc. And Globex Ltd. Merged.',
    ['It was Acme vs. Globex.', 'Acme Inc. And Globex Ltd. Merged.'],
  ],
  [
    'numbers',
    'It costs approx. 3.5 dollars, or $1,234.56 in total. Call at 2.30 today. Bye.',
    ['It costs approx. 3.5 dollars, or $1,234.56 in total.', 'Call at 2.30 today.', 'Bye.'],
  ],
  [
    'url and e-mail',
    'Visit www.example.com or email a@b.com. We reply fast!',
    ['Visit www.example.com or email a@b.com.', 'We reply fast!'],
  ],
  ['initials', 'J. K. Rowling wrote it. I read it.', ['J. K. Rowling wrote it.', 'I read it.']],
  ['ellipsis', 'Wait... what? Well… OK. Fine.', ['Wait... what?', 'Well…', 'OK.', 'Fine.']],
  [
    'list',
    'Press: 1. Sales, 2. Support or 3. Billing. Which one?',
    ['Press: 1. Sales, 2. Support or 3. Billing.', 'Which one?'],
  ],
];

describe('sentence boundaries, pt-BR', () => {
  it.each(ptCases)('%s', (_name, text, expected) => expectChunks('pt-BR', text, expected, exact));
});

describe('sentence boundaries, en-US', () => {
  it.each(enCases)('%s', (_name, text, expected) => expectChunks('en-US', text, expected, exact));
});

describe('streaming', () => {
  it('sends the first sentence as soon as the next word starts, even a short one', () => {
    const c = createSentenceChunker({ language: 'pt-BR' });
    expect(c.push('Sim.')).toEqual([]); // could still be "Sim.com" or "Sim. eu..."
    expect(c.push(' ')).toEqual([]);
    expect(c.push('P')).toEqual(['Sim.']);
    expect(c.push('ode vir amanhã às nove horas. Até')).toEqual(['Pode vir amanhã às nove horas.']);
    expect(c.flush()).toEqual(['Até']);
  });

  it('keeps "." undecided across deltas split inside abbreviations and numbers', () => {
    const c = createSentenceChunker({ language: 'pt-BR' });
    expect(c.push('O Sr')).toEqual([]);
    expect(c.push('.')).toEqual([]);
    expect(c.push(' ')).toEqual([]);
    expect(c.push('João paga 3')).toEqual([]);
    expect(c.push('.')).toEqual([]);
    expect(c.push('5 reais. ')).toEqual([]);
    expect(c.push('Ok')).toEqual(['O Sr. João paga 3.5 reais.']);
    expect(c.flush()).toEqual(['Ok']);
  });

  it('ends a sentence on a newline without waiting for more text', () => {
    const c = createSentenceChunker({ language: 'pt-BR' });
    expect(c.push('Horários disponíveis\n')).toEqual(['Horários disponíveis']);
  });

  it('flush decides a pending period and resets for reuse', () => {
    const c = createSentenceChunker({ language: 'en-US' });
    expect(c.push('Hello there.')).toEqual([]);
    expect(c.flush()).toEqual(['Hello there.']);
    expect(c.flush()).toEqual([]);
    expect(c.push('Again. Now')).toEqual(['Again.']);
    expect(c.flush()).toEqual(['Now']);
  });

  it('waits for both halves of an emoji before deciding', () => {
    const text = 'Pronto. 😊 Até amanhã.';
    const expected = ['Pronto.', '😊 Até amanhã.'];
    const opts: Opts = { minChars: 0, speakable: false };
    expect(whole('pt-BR', text, opts)).toEqual(expected);
    for (let cut = 0; cut <= text.length; cut++) {
      expect(pieces('pt-BR', [text.slice(0, cut), text.slice(cut)], opts)).toEqual(expected);
    }
  });

  it('ignores empty deltas and whitespace-only text', () => {
    expect(pieces('pt-BR', ['', '  ', '\n\n', ''])).toEqual([]);
  });
});

describe('minChars', () => {
  it('sends the first sentence alone, then merges short ones into the next', () => {
    expectChunks('pt-BR', 'Olá! Sim. Não. Pode vir amanhã às nove horas. Ok.', [
      'Olá!',
      'Sim. Não. Pode vir amanhã às nove horas.',
      'Ok.',
    ]);
  });

  it('puts a full stop after a short unpunctuated line before joining it', () => {
    expectChunks('pt-BR', 'Nossos horários são estes:\n- Segunda\n- Sábado de manhã, só com hora marcada', [
      'Nossos horários são estes:',
      'Segunda. Sábado de manhã, só com hora marcada',
    ]);
  });
});

describe('maxChars', () => {
  const long =
    'Vou verificar a agenda do doutor para a próxima semana e já te falo os horários livres, ' +
    'mas antes preciso confirmar alguns dados do seu cadastro como nome completo e telefone, ' +
    'e também se o seu convênio ainda está ativo porque isso muda os horários que eu posso oferecer ' +
    'para a consulta de retorno que você pediu';

  it('cuts a sentence with no end at the last comma before the limit', () => {
    const out = whole('pt-BR', long, { maxChars: 120, firstMaxChars: 120 });
    expect(out.length).toBeGreaterThan(2);
    for (const s of out) expect(s.length).toBeLessThanOrEqual(120);
    expect(out[0]?.endsWith('livres,')).toBe(true);
    expect(out.join(' ')).toBe(long);
    expectChunks('pt-BR', long, out, { maxChars: 120, firstMaxChars: 120 });
  });

  it('uses a lower limit for the first sentence so speech starts sooner', () => {
    const out = whole('pt-BR', long, { maxChars: 200, firstMaxChars: 60 });
    expect(out[0]?.length).toBeLessThanOrEqual(60);
    expect(out.slice(1).every((s) => s.length <= 200)).toBe(true);
    expect(out.join(' ')).toBe(long);
  });

  it('cuts at a space, or hard, when there is no comma', () => {
    const words = Array.from({ length: 40 }, (_, i) => `palavra${i}`).join(' ');
    const out = whole('pt-BR', words, { maxChars: 50, firstMaxChars: 50 });
    for (const s of out) expect(s.length).toBeLessThanOrEqual(50);
    expect(out.join(' ')).toBe(words);
    expect(whole('pt-BR', 'x'.repeat(30), { maxChars: 12, firstMaxChars: 12, minChars: 0 })).toEqual([
      'x'.repeat(12),
      'x'.repeat(12),
      'x'.repeat(6),
    ]);
  });

  it('rejects nonsensical limits', () => {
    expect(() => createSentenceChunker({ language: 'pt-BR', maxChars: 2 })).toThrow(/maxChars/);
  });
});

describe('markdown', () => {
  it('strips markdown from streamed sentences', () => {
    const text =
      '**Claro!** Vou `verificar`.\n\n## Horários\n- Segunda: 9h às 18h\n* Sábado: _só_ de manhã\n\nVeja [o site](https://acme.com.br). 😊 Até!';
    expectChunks('pt-BR', text, [
      'Claro!',
      'Vou verificar. Horários',
      'Segunda: 9h às 18h. Sábado: só de manhã',
      'Veja o site. Até!',
    ]);
  });

  it('leaves the text alone with speakable: false', () => {
    expect(whole('pt-BR', '**Claro!** Vou ver.', { speakable: false, minChars: 0 })).toEqual([
      '**Claro!**',
      'Vou ver.',
    ]);
  });

  it('toSpeakable removes markup and emoji, keeps words, numbers and punctuation', () => {
    expect(toSpeakable('# Título')).toBe('Título');
    expect(toSpeakable('- item um')).toBe('item um');
    expect(toSpeakable('1. Vendas')).toBe('1. Vendas');
    expect(toSpeakable('**negrito** e *itálico* e __sublinhado__ e ~~riscado~~')).toBe(
      'negrito e itálico e sublinhado e riscado',
    );
    expect(toSpeakable('use `npm test` ou ```bash')).toBe('use npm test ou');
    expect(toSpeakable('veja [aqui](http://x.y/z) ou ![logo](a.png)')).toBe('veja aqui ou logo');
    expect(toSpeakable('| Dia | Hora |')).toBe('Dia Hora');
    expect(toSpeakable('> citação')).toBe('citação');
    expect(toSpeakable('---')).toBe('');
    expect(toSpeakable('Obrigado! 👍🏽 ❤️ 👨‍👩‍👧')).toBe('Obrigado!');
    expect(toSpeakable('snake_case e R$ 1.234,56 e 3 * 4')).toBe('snake_case e R$ 1.234,56 e 3 4');
  });
});

describe('properties', () => {
  const token = fc.constantFrom(
    'Olá',
    'o',
    'Sr.',
    'Dra.',
    'Mr.',
    'e.g.',
    'etc.',
    'J.',
    'K.',
    '3,5',
    '3.5',
    'R$',
    '1.234,56',
    '14.30',
    '1.',
    '2.',
    'www.acme.com.br',
    'a@b.com',
    '...',
    '…',
    '.',
    '!',
    '?',
    '?!',
    ',',
    ':',
    '"',
    '(',
    ')',
    'Sim',
    'não',
    'Agora',
    'the',
    'Dr',
    '5',
    'N',
    '\n',
    '**',
    '#',
    '-',
  );
  const text = fc
    .array(fc.tuple(token, fc.constantFrom(' ', '', '  ', '\n')), { maxLength: 40 })
    .map((ts) => ts.map(([t, s]) => t + s).join(''));

  it('gives the same sentences however the text is split, and loses no characters', () => {
    fc.assert(
      fc.property(
        text,
        fc.array(fc.nat(), { maxLength: 15 }),
        fc.constantFrom('pt-BR', 'en-US', 'es'),
        (t, rawCuts, lang) => {
          const opts: Opts = { speakable: false, maxChars: 40, firstMaxChars: 20 };
          const expected = whole(lang, t, opts);
          const cuts = rawCuts.map((c) => c % (t.length + 1));
          expect(pieces(lang, splitAt(t, cuts), opts)).toEqual(expected);
          expect(expected.join('').replace(/\s/g, '')).toBe(t.replace(/\s/g, ''));
          for (const s of expected) expect(s).toBe(s.trim());
        },
      ),
      { seed: 99, numRuns: 400 },
    );
  });
});
