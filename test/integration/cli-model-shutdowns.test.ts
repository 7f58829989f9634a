/**
 * `voice-ai doctor` and `voice-ai providers list` name every configured model its vendor has announced for
 * shutdown, with the date: a warning before it, an error from that day on. The day is injected.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/cli/doctor.js';
import { runProviders } from '../../src/cli/providers.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { createDomain, testSql } from '../helpers/db.js';
import { addProviderViaCli, cliEnv, deadPort } from './cli-support.js';

const sql = testSql();
let fake: FakeOpenAi;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-shutdowns-'));
  const audioDir = await mkdtemp(path.join(dir, 'audio-'));
  await chmod(audioDir, 0o750);
  env = cliEnv({
    // ESL is down on purpose: one known FAIL, so the count shows what the shutdown check adds.
    VOICE_AI_ESL_PORT: String(await deadPort()),
    VOICE_AI_AUDIO_DIR: audioDir,
    VOICE_AI_SPOOL_DIR: await mkdtemp(path.join(dir, 'spool-')),
  });
});

afterAll(async () => {
  await fake.close();
  await sql.end();
  await rm(dir, { recursive: true, force: true });
});

const BEFORE = new Date('2026-12-04T12:00:00Z');
const AFTER_TTS = new Date('2027-01-06T00:30:00Z');

async function run(
  fn: typeof runDoctor | typeof runProviders,
  args: string[],
  now: Date,
): Promise<{ code: number; lines: string[] }> {
  const config = loadConfig(env, { needs: { database: true } });
  const log = createLogger({ level: 'error', pii: false, destination: { write: () => undefined } });
  const lines: string[] = [];
  const code = await fn(args, config, log, (s) => void lines.push(s), { now: () => now });
  return { code, lines };
}

async function domainWithTts1() {
  const d = await createDomain(sql);
  const tts = await addProviderViaCli(
    d.domain_name,
    {
      type: 'tts',
      name: 'openai',
      config: { base_url: fake.baseUrl, model: 'tts-1', voice: 'alloy' },
      secret: `api_key=${FAKE_API_KEY}`,
    },
    env,
  );
  const stt = await addProviderViaCli(
    d.domain_name,
    {
      type: 'stt',
      name: 'openai',
      config: { base_url: fake.baseUrl, model: 'gpt-transcribe' },
      secret: `api_key=${FAKE_API_KEY}`,
    },
    env,
  );
  return { ...d, tts, stt };
}

describe('model shutdown warnings', () => {
  it('doctor warns about tts-1 with its date before 2027-01-06, and fails it from that day on', async () => {
    const d = await domainWithTts1();
    const before = await run(runDoctor, ['--domain', d.domain_name, '--timeout-ms', '3000'], BEFORE);
    const modelLines = (r: { lines: string[] }) => r.lines.filter((l) => / models?[ :]/.test(l));
    expect(modelLines(before)).toEqual([
      `warn model ${d.domain_name}: tts openai tts-1 ${d.tts} shuts down on 2027-01-06 ` +
        '(openai npm 7.55.0 types ("Deprecated values")); move to speech through Realtime: gpt-realtime-2.1-mini',
    ]);
    // The row still works until then: its probe passes, and only ESL fails.
    expect(before.lines).toContainEqual(
      expect.stringMatching(new RegExp(`^ok {3}provider .*tts openai tts-1 ${d.tts}`)),
    );
    expect(before.lines.at(-1)).toBe('1 check(s) failed, 1 warning(s)');

    const after = await run(runDoctor, ['--domain', d.domain_name, '--timeout-ms', '3000'], AFTER_TTS);
    expect(modelLines(after)).toEqual([
      expect.stringMatching(
        new RegExp(`^FAIL model ${d.domain_name}: tts openai tts-1 ${d.tts} was shut down on 2027-01-06`),
      ),
    ]);
    expect(after.lines.at(-1)).toBe('2 check(s) failed');
    expect(after.code).toBe(1);
  });

  it('doctor says ok when no configured model is on a shutdown list', async () => {
    const d = await createDomain(sql);
    await addProviderViaCli(d.domain_name, { type: 'llm', name: 'ollama', config: { model: 'llama3' } }, env);
    const r = await run(runDoctor, ['--domain', d.domain_name, '--timeout-ms', '500'], BEFORE);
    expect(r.lines).toContain('ok   models: 1 provider row(s), none on a known shutdown list');
  });

  it('providers list shows the date in a column and ends with one warning line per such row', async () => {
    const d = await domainWithTts1();
    const text = await run(runProviders, ['list', '--domain', d.domain_name], BEFORE);
    expect(text.code).toBe(0);
    const header = text.lines[0] ?? '';
    expect(header).toMatch(/\bshutdown\b/);
    const ttsLine = text.lines.find((l) => l.startsWith(d.tts)) ?? '';
    expect(ttsLine.slice(header.indexOf('shutdown'))).toMatch(/^2027-01-06 /);
    expect(text.lines.find((l) => l.startsWith(d.stt))?.slice(header.indexOf('shutdown'))).toMatch(/^ +\{/);
    expect(text.lines.slice(-1)).toEqual([
      `warning: tts openai tts-1 ${d.tts} shuts down on 2027-01-06 ` +
        '(openai npm 7.55.0 types ("Deprecated values")); move to speech through Realtime: gpt-realtime-2.1-mini',
    ]);

    const after = await run(runProviders, ['list', '--domain', d.domain_name], AFTER_TTS);
    expect(after.lines.at(-1)).toMatch(/^error: tts openai tts-1 .* was shut down on 2027-01-06/);

    const json = await run(runProviders, ['list', '--domain', d.domain_name, '--json'], BEFORE);
    const rows = JSON.parse(json.lines.join('\n')) as { provider_uuid: string; shutdown: string | null }[];
    expect(Object.fromEntries(rows.map((r) => [r.provider_uuid, r.shutdown]))).toEqual({
      [d.tts]: '2027-01-06',
      [d.stt]: null,
    });
  });
});
