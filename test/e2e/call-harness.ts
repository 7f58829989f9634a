/**
 * A whole daemon (startDaemon) wired to the fake FreeSWITCH, a fake OpenAI and the real test PostgreSQL, plus
 * helpers to create a tenant with providers and a secretary, place calls and read back the rows.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { pino, type Logger } from 'pino';
import postgres from 'postgres';
import { parseWav } from '../../src/audio/wav.js';
import { loadConfig } from '../../src/config.js';
import type { Clock } from '../../src/core/clock.js';
import { startDaemon, type Daemon } from '../../src/main.js';
import type { SecretaryInput } from '../../src/store/repos/secretaries.js';
import type { ConversationRow, MessageRow } from '../../src/store/repos/types.js';
import {
  startFakeFreeSwitch,
  type CallerStep,
  type FakeFreeSwitch,
  type PlaceCallOptions,
} from '../fakes/fake-freeswitch/index.js';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { testSql, type Sql } from '../helpers/db.js';
import { createTenant, type Tenant } from '../helpers/tenant.js';

export const ENCRYPTION_KEY = 'e2e-test-key-0123456789abcdef';
export const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/audio');
/** 3.7 s: 1.0 s of digital silence, then "I would like to speak to sales please" (speech 1.00-3.30 s). */
export const SALES_8K = path.join(FIXTURES, 'fake-fs-sales-8k.wav');
export const SALES_16K = path.join(FIXTURES, 'fake-fs-sales-16k.wav');

/**
 * One caller utterance as the record app hears it: the sales sentence without its leading second of silence
 * (a caller silent for silence_seconds ends FreeSWITCH's recording empty), then enough silence to end it.
 */
export function utterance(rateHz: 8000 | 16000 = 8000): CallerStep[] {
  const wav = parseWav(readFileSync(rateHz === 8000 ? SALES_8K : SALES_16K));
  const pcm = wav.samples.subarray(Math.round(0.9 * wav.sampleRateHz));
  return [
    { type: 'speak', pcm, sampleRateHz: wav.sampleRateHz },
    { type: 'silence', ms: 1200 },
  ];
}

export type { Tenant };

export interface Harness {
  sql: Sql;
  fs: FakeFreeSwitch;
  ai: FakeOpenAi;
  daemon: Daemon;
  logs: Record<string, unknown>[];
  audioDir: string;
  tenant(opts?: {
    extension?: string;
    secretary?: Partial<SecretaryInput>;
    ai?: FakeOpenAi;
    /** A second LLM provider (model backup-llm; vendor `name`, default openai), tried after the first. */
    extraLlm?: { baseUrl: string; name?: string };
  }): Promise<Tenant>;
  call(t: Tenant, opts?: Partial<PlaceCallOptions>): ReturnType<FakeFreeSwitch['placeCall']>;
  /** The conversation row of a call once its end was written (polls; the write queue is asynchronous). */
  conversation(callUuid: string): Promise<ConversationRow>;
  messages(conversationUuid: string): Promise<MessageRowRead[]>;
  close(): Promise<void>;
}

/** v_voice_conversations as the tests read it back (SELECT *). */
export type { ConversationRow };

/** The columns the tests read back from v_voice_messages. */
export type MessageRowRead = Pick<
  MessageRow,
  | 'turn'
  | 'seq'
  | 'role'
  | 'content'
  | 'stt_provider'
  | 'llm_provider'
  | 'tts_provider'
  | 'stt_ms'
  | 'llm_first_token_ms'
  | 'tts_first_byte_ms'
  | 'turn_ms'
>;

export interface HarnessOptions {
  speed?: number;
  fillerAfterMs?: number;
  /** A migrated database of the test's own (e.g. one it stops); default the shared test database. */
  databaseUrl?: string;
  /** The daemon's clock; default the system's. */
  clock?: Clock;
  /** More environment for the daemon's config (e.g. VOICE_AI_EXECUTE_MARGIN_MS). */
  env?: Record<string, string>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const databaseUrl = opts.databaseUrl ?? inject('databaseUrl');
  const sql = opts.databaseUrl ? postgres(databaseUrl, { max: 5, onnotice: () => undefined }) : testSql();
  const fs = await startFakeFreeSwitch({ speed: opts.speed ?? 10 });
  const ai = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  const audioDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-e2e-audio-'));
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-e2e-spool-'));
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    VOICE_AI_ENCRYPTION_KEY: ENCRYPTION_KEY,
    VOICE_AI_ESL_PORT: String(fs.inboundPort),
    VOICE_AI_OUTBOUND_PORT: '0',
    VOICE_AI_HTTP_PORT: '0',
    VOICE_AI_AUDIO_DIR: audioDir,
    VOICE_AI_SPOOL_DIR: spoolDir,
    VOICE_AI_DB_POOL_MAX: '5',
    ...opts.env,
  });
  const logs: Record<string, unknown>[] = [];
  const log: Logger = pino(
    {
      level: 'debug',
      redact: {
        paths: ['pii', '*.pii', 'api_key', '*.api_key', 'secrets', '*.secrets'],
        censor: '[redacted]',
      },
    },
    { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) },
  );
  const daemon = await startDaemon(config, {
    log,
    fillerAfterMs: opts.fillerAfterMs ?? 60_000,
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  let ext = 8000;

  const harness: Harness = {
    sql,
    fs,
    ai,
    daemon,
    logs,
    audioDir,
    async tenant(t = {}) {
      const provider = { baseUrl: (t.ai ?? ai).baseUrl, apiKey: FAKE_API_KEY };
      const extra = t.extraLlm;
      return createTenant(sql, {
        provider,
        ...(extra
          ? {
              llm: [
                provider,
                {
                  baseUrl: extra.baseUrl,
                  apiKey: FAKE_API_KEY,
                  model: 'backup-llm',
                  ...(extra.name ? { name: extra.name } : {}),
                },
              ],
            }
          : {}),
        extension: t.extension ?? String(ext++),
        ...(t.secretary ? { secretary: t.secretary } : {}),
        encryptionKey: ENCRYPTION_KEY,
      });
    },
    call(t, o = {}) {
      return fs.placeCall({
        target: { host: '127.0.0.1', port: daemon.outboundPort },
        domainUuid: t.domain_uuid,
        domainName: t.domain_name,
        destinationNumber: t.extension,
        callerIdNumber: '5511999990000',
        callerIdName: 'Maria',
        ...o,
      });
    },
    async conversation(callUuid) {
      for (let i = 0; i < 200; i++) {
        const rows = await sql<ConversationRow[]>`
          SELECT * FROM v_voice_conversations WHERE call_uuid = ${callUuid} AND ended_at IS NOT NULL`;
        if (rows[0]) return rows[0];
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`no ended conversation for call ${callUuid}`);
    },
    async messages(conversationUuid) {
      return sql<MessageRowRead[]>`
        SELECT turn, seq, role, content, stt_provider, llm_provider, tts_provider,
               stt_ms, llm_first_token_ms, tts_first_byte_ms, turn_ms
        FROM v_voice_messages WHERE conversation_uuid = ${conversationUuid} ORDER BY seq`;
    },
    async close() {
      await daemon.stop({ graceMs: 2000 });
      await fs.stop();
      await ai.close();
      await sql.end();
      await rm(audioDir, { recursive: true, force: true });
      await rm(spoolDir, { recursive: true, force: true });
    },
  };
  return harness;
}
