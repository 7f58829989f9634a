/**
 * The conversation engine on its own: a scripted media (test/fakes/scripted-media.ts) instead of FreeSWITCH,
 * the fake OpenAI server on a real socket for the LLM and TTS, rows through the real write queue into the
 * test PostgreSQL. The e2e call tests drive the same engine through the files backend and the fake switch.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { phrasesFor } from '../../src/conversation/prompts.js';
import {
  runConversation,
  type ConversationDeps,
  type ConversationOutcome,
  type ReplyReport,
  type SecretaryProfile,
} from '../../src/conversation/session.js';
import { heardPart } from '../../src/conversation/reply.js';
import { PromptCache } from '../../src/conversation/speech.js';
import { createOpenAiLlm } from '../../src/providers/llm/openai.js';
import { createOpenAiTts } from '../../src/providers/tts/openai.js';
import { createWriteQueue, type WriteQueue } from '../../src/store/write-queue.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { ScriptedMedia, type ScriptedMediaOptions } from '../fakes/scripted-media.js';
import { createDomain, testSql, type Sql, type TestDomain } from '../helpers/db.js';

const PT = phrasesFor('pt-BR');
const log = pino({ level: 'silent' });

let sql: Sql;
let domain: TestDomain;
let secretaryUuid: string;
let ai: FakeOpenAi;
let dir: string;
let queue: WriteQueue;

beforeAll(async () => {
  sql = testSql();
  domain = await createDomain(sql);
  const [row] = await sql<{ secretary_uuid: string }[]>`
    INSERT INTO v_voice_secretaries (domain_uuid, name, extension, processing_mode)
    VALUES (${domain.domain_uuid}, 'Ana', '8000', 'realtime') RETURNING secretary_uuid`;
  secretaryUuid = row?.secretary_uuid ?? '';
});
afterAll(() => sql.end());

beforeEach(async () => {
  ai = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-engine-'));
  queue = createWriteQueue({ sql, spoolDir: path.join(dir, 'spool'), log });
  await queue.start();
});
afterEach(async () => {
  await queue.close({ timeoutMs: 5000 });
  await ai.close();
  await rm(dir, { recursive: true, force: true });
});

function profile(over: Partial<SecretaryProfile> = {}): SecretaryProfile {
  return {
    secretaryUuid,
    domainUuid: domain.domain_uuid,
    domainName: domain.domain_name,
    name: 'Ana',
    language: 'pt-BR',
    systemPrompt: 'Você é a secretária da Acme.',
    greeting: 'Olá, aqui é a Ana.',
    farewell: 'Até logo!',
    maxTurns: 10,
    maxSilentTurns: 2,
    idleTimeoutSeconds: 60,
    recordMaxSeconds: 10,
    silenceThreshold: 200,
    silenceSeconds: 1,
    maxCallSeconds: 60,
    transferExtension: '1001',
    timezone: 'America/Sao_Paulo',
    processingMode: 'realtime',
    ...over,
  };
}

interface Run {
  media: ScriptedMedia;
  outcome: ConversationOutcome;
  replies: ReplyReport[];
}

async function converse(
  media: ScriptedMediaOptions,
  opts: {
    secretary?: Partial<SecretaryProfile>;
    noOperator?: boolean;
    deps?: Partial<ConversationDeps>;
  } = {},
): Promise<Run> {
  const m = new ScriptedMedia(media);
  const secretary = profile(opts.secretary);
  if (opts.noOperator === true) delete secretary.transferExtension;
  const replies: ReplyReport[] = [];
  const outcome = await runConversation({
    media: m,
    secretary,
    providers: {
      llm: createOpenAiLlm(fakeConfig(ai.baseUrl, 'llm')),
      ...(m.speaks ? { tts: createOpenAiTts(fakeConfig(ai.baseUrl, 'tts')) } : {}),
    },
    sink: queue,
    callDir: path.join(dir, 'call'),
    prompts: new PromptCache(path.join(dir, 'prompts'), systemClock),
    caller: { number: '5511999990000', name: 'Maria', destination: '8000' },
    log,
    clock: systemClock,
    onReply: (r) => replies.push(r),
    ...opts.deps,
  });
  await queue.drain({ timeoutMs: 5000 });
  return { media: m, outcome, replies };
}

const said = (text: string) => ({ type: 'text' as const, text, speechEndedAt: systemClock.monotonicMs() });

async function rows(conversationUuid: string) {
  const [conv] = await sql<
    {
      resolution: string;
      transferred_to: string | null;
      total_turns: number;
      processing_mode: string;
      media_backend: string | null;
    }[]
  >`SELECT resolution, transferred_to, total_turns, processing_mode, media_backend FROM v_voice_conversations
    WHERE domain_uuid = ${domain.domain_uuid} AND conversation_uuid = ${conversationUuid}`;
  const messages = await sql<{ turn: number; role: string; content: string }[]>`
    SELECT turn, role, content FROM v_voice_messages
    WHERE domain_uuid = ${domain.domain_uuid} AND conversation_uuid = ${conversationUuid} ORDER BY seq`;
  return { conv, messages: messages.map((m) => [m.turn, m.role, m.content]) };
}

describe('the conversation engine over a scripted media', () => {
  it('greets, answers each turn sentence by sentence, says goodbye when the caller is done, stores every row', async () => {
    ai.script(
      'chat',
      { type: 'chat', text: 'Abrimos às oito. Fechamos às dezoito.' },
      { type: 'chat', text: 'De nada!' },
    );
    const { media, outcome, replies } = await converse({
      turns: [said('Que horas abre?'), said('Obrigada.')],
    });
    expect(media.answered).toBe(1);
    expect(media.texts).toEqual([
      'Olá, aqui é a Ana.',
      'Abrimos às oito.',
      'Fechamos às dezoito.',
      'De nada!',
      'Até logo!',
    ]);
    expect(media.played.map((p) => p.phrase === true)).toEqual([true, false, false, false, true]);
    expect(media.hangups).toEqual(['NORMAL_CLEARING']);
    expect(outcome).toMatchObject({ resolution: 'completed', turns: 2, transferredTo: null, media: 'text' });
    expect(replies.map((r) => [r.turn, r.text, r.sentences])).toEqual([
      [1, 'Abrimos às oito. Fechamos às dezoito.', 2],
      [2, 'De nada!', 1],
    ]);
    // The second request carries the first exchange: one history, as on a call.
    const second = ai.requests.filter((r) => r.route === 'chat')[1]?.body as {
      messages: { role: string; content: string }[];
    };
    expect(second.messages.slice(1).map((m) => [m.role, m.content])).toEqual([
      ['user', 'Que horas abre?'],
      ['assistant', 'Abrimos às oito. Fechamos às dezoito.'],
      ['user', 'Obrigada.'],
    ]);
    const r = await rows(outcome.conversationUuid);
    // A `realtime` secretary's call still runs turn based: the row says what ran.
    expect(r.conv).toEqual({
      resolution: 'completed',
      transferred_to: null,
      total_turns: 2,
      processing_mode: 'turn_based',
      media_backend: 'text',
    });
    expect(r.messages).toEqual([
      [0, 'assistant', 'Olá, aqui é a Ana.'],
      [1, 'user', 'Que horas abre?'],
      [1, 'assistant', 'Abrimos às oito. Fechamos às dezoito.'],
      [2, 'user', 'Obrigada.'],
      [2, 'assistant', 'De nada!'],
    ]);
  });

  it('on a media that speaks, every phrase and sentence is a WAV at the media rate', async () => {
    ai.script('chat', { type: 'chat', text: 'Claro. Um instante.' });
    const { media } = await converse({ speaks: true, sampleRateHz: 8000, turns: [said('Oi')] });
    expect(media.texts).toEqual(['Olá, aqui é a Ana.', 'Claro.', 'Um instante.', 'Até logo!']);
    for (const p of media.played) expect(p.durationMs).toBeGreaterThan(0);
    const speech = ai.requests.filter((r) => r.route === 'speech');
    expect(speech.length).toBeGreaterThanOrEqual(4);
  });

  it('the transfer tool hands the caller to the operator extension after the transferring phrase', async () => {
    ai.script('chat', {
      type: 'chat',
      text: 'Vou chamar alguém.',
      toolCalls: [{ name: 'transfer_to_operator', arguments: { reason: 'pessoa' } }],
    });
    const { media, outcome } = await converse({ turns: [said('Quero uma pessoa.')] });
    expect(media.texts).toEqual(['Olá, aqui é a Ana.', 'Vou chamar alguém.', PT.transferring]);
    expect(media.transfers).toEqual([{ destination: '1001', context: domain.domain_name }]);
    expect(outcome).toMatchObject({ resolution: 'transferred', transferredTo: '1001', turns: 1 });
    const r = await rows(outcome.conversationUuid);
    expect(r.conv?.transferred_to).toBe('1001');
    expect(r.messages.map((m) => m[1])).toEqual(['assistant', 'user', 'assistant', 'tool']);
  });

  it('0 reaches the operator and * hangs up, from a listen or cutting a reply short', async () => {
    const zero = await converse({ turns: [{ type: 'digit', digit: '0' }] });
    expect(zero.media.transfers).toHaveLength(1);
    expect(zero.outcome.resolution).toBe('transferred');
    expect(ai.requests).toHaveLength(0);

    ai.script('chat', { type: 'chat', text: 'Primeira frase. Segunda frase. Terceira frase.' });
    const star = await converse({
      turns: [said('Fale tudo.')],
      digitDuring: (item) => (item.text === 'Primeira frase.' ? '*' : undefined),
    });
    expect(star.media.texts).toEqual(['Olá, aqui é a Ana.', 'Primeira frase.', 'Até logo!']);
    expect(star.outcome.resolution).toBe('completed');
    // What the caller heard is what is stored: only the sentence that played.
    const r = await rows(star.outcome.conversationUuid);
    expect(r.messages.at(-1)).toEqual([1, 'assistant', 'Primeira frase.']);
  });

  it('barge-in: the reply stops where the caller cut in; history and rows keep only what they heard', async () => {
    ai.script(
      'chat',
      {
        type: 'chat',
        text: 'Temos três unidades na cidade. A primeira fica no centro, perto da praça. A segunda no bairro.',
        toolCalls: [{ name: 'end_call', arguments: { reason: 'done' } }],
      },
      { type: 'chat', text: 'Claro, a do centro.' },
    );
    const { media, outcome, replies } = await converse({
      turns: [said('Onde ficam?'), said('Só a do centro.')],
      bargeInDuring: (item) => (item.text.startsWith('A primeira') ? 0.5 : undefined),
    });
    // The rest of the reply is never played, and its end_call is not acted on: the caller is heard next.
    expect(media.texts).toEqual([
      'Olá, aqui é a Ana.',
      'Temos três unidades na cidade.',
      'A primeira fica no centro, perto da praça.',
      'Claro, a do centro.',
      'Até logo!',
    ]);
    expect(replies[0]).toMatchObject({
      interrupted: true,
      text: 'Temos três unidades na cidade. A primeira fica no…',
      action: { type: 'none' },
    });
    expect(outcome).toMatchObject({ resolution: 'completed', turns: 2 });
    const second = ai.requests.filter((r) => r.route === 'chat')[1]?.body as {
      messages: { role: string; content: string }[];
    };
    expect(second.messages.slice(1).map((m) => m.content)).toEqual([
      'Onde ficam?',
      'Temos três unidades na cidade. A primeira fica no…',
      'Só a do centro.',
    ]);
    const stored = await sql<{ turn: number; role: string; content: string; interrupted: boolean }[]>`
      SELECT turn, role, content, interrupted FROM v_voice_messages
      WHERE domain_uuid = ${domain.domain_uuid} AND conversation_uuid = ${outcome.conversationUuid} ORDER BY seq`;
    expect(stored.map((m) => [m.turn, m.role, m.interrupted])).toEqual([
      [0, 'assistant', false],
      [1, 'user', false],
      [1, 'assistant', true],
      [2, 'user', false],
      [2, 'assistant', false],
    ]);
    expect(stored[2]?.content).toBe('Temos três unidades na cidade. A primeira fica no…');
  });

  it('asks whether the caller is still there, then says goodbye after max_silent_turns', async () => {
    const { media, outcome } = await converse({
      turns: [
        { type: 'silence', listenedMs: 1000 },
        { type: 'silence', listenedMs: 1000 },
      ],
    });
    expect(media.texts).toEqual(['Olá, aqui é a Ana.', PT.stillThere, 'Até logo!']);
    expect(outcome).toMatchObject({ resolution: 'silence', turns: 0 });
    expect(ai.requests).toHaveLength(0);
  });

  it('a failing LLM is an apology and a transfer, never silence', async () => {
    ai.script(
      'chat',
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
      { type: 'error', status: 500 },
    );
    const { media, outcome } = await converse({ turns: [said('Oi')] });
    expect(media.texts).toEqual(['Olá, aqui é a Ana.', PT.apology, PT.transferring]);
    expect(outcome).toMatchObject({ resolution: 'error', transferredTo: '1001' });
    expect((await rows(outcome.conversationUuid)).conv?.resolution).toBe('error');
  });

  it('without an operator, the transfer becomes "no one available" and a goodbye', async () => {
    const { media, outcome } = await converse(
      { turns: [{ type: 'digit', digit: '0' }] },
      { noOperator: true },
    );
    expect(media.texts).toEqual(['Olá, aqui é a Ana.', PT.noOperator, 'Até logo!']);
    expect(media.transfers).toEqual([]);
    // Nobody took the call: not stored as a transfer.
    expect(outcome).toMatchObject({ resolution: 'completed', transferredTo: null });
  });

  it('a hangup while listening ends the conversation at once: no farewell, resolution caller_hangup', async () => {
    ai.script('chat', { type: 'chat', text: 'Claro.' });
    const { media, outcome } = await converse({ turns: [said('Oi'), { type: 'hangup' }] });
    expect(media.texts).toEqual(['Olá, aqui é a Ana.', 'Claro.']);
    expect(media.hangups).toEqual([]);
    expect(outcome).toMatchObject({ resolution: 'caller_hangup', turns: 1 });
  });

  it('max_turns hands the caller to a person instead of listening again', async () => {
    ai.script('chat', { type: 'chat', text: 'Um.' }, { type: 'chat', text: 'Dois.' });
    const { media, outcome } = await converse(
      { turns: [said('a'), said('b'), said('c')] },
      { secretary: { maxTurns: 2 } },
    );
    expect(media.listens).toBe(2);
    expect(media.texts.slice(-1)).toEqual([PT.transferring]);
    expect(outcome).toMatchObject({ resolution: 'max_turns', turns: 2, transferredTo: '1001' });
  });
});

describe('heardPart', () => {
  it('keeps the share of words played, with an ellipsis, the whole sentence when the length is unknown', () => {
    expect(heardPart('um dois três quatro', 500, 1000)).toBe('um dois…');
    expect(heardPart('um dois três quatro', 990, 1000)).toBe('um dois três quatro');
    expect(heardPart('um dois três quatro', 100, 1000)).toBe('');
    expect(heardPart('um dois três quatro', 100, undefined)).toBe('um dois três quatro');
  });
});
