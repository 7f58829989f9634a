import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_API_KEY } from '../fakes/openai-rows.js';
import { startFakeOpenAi, type FakeOpenAi } from '../fakes/openai-server.js';
import { createDomain, dropScratch, migratedScratch, testSql, type Sql } from '../helpers/db.js';
import { addProviderViaCli, CLI_KEY, cliEnv, deadPort, runCli } from './cli-support.js';

/** Just enough of FreeSWITCH's event socket: auth/request, then `auth <password>` → +OK accepted or -ERR. */
async function startFakeEsl(password: string): Promise<{ port: number; server: Server }> {
  const server = createServer((socket) => {
    socket.write('Content-Type: auth/request\n\n');
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const end = buffered.indexOf('\n\n');
      if (end < 0) return;
      const ok = buffered.slice(0, end) === `auth ${password}`;
      buffered = buffered.slice(end + 2);
      socket.write(`Content-Type: command/reply\nReply-Text: ${ok ? '+OK accepted' : '-ERR invalid'}\n\n`);
      if (!ok) socket.end();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server };
}

const sql = testSql();
let esl: { port: number; server: Server };
let fake: FakeOpenAi;
let dir: string;
let audioDir: string;
let spoolDir: string;

beforeAll(async () => {
  esl = await startFakeEsl('ClueCon');
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-cli-doctor-'));
  audioDir = await mkdtemp(path.join(dir, 'audio-'));
  spoolDir = await mkdtemp(path.join(dir, 'spool-'));
  // mkdtemp makes 0700 directories; FreeSWITCH (the group) must be able to enter the audio one.
  await chmod(audioDir, 0o750);
});

afterAll(async () => {
  await new Promise<void>((resolve) => esl.server.close(() => resolve()));
  await fake.close();
  await sql.end();
  await rm(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string | undefined> = {}) =>
  cliEnv({
    VOICE_AI_ESL_PORT: String(esl.port),
    VOICE_AI_AUDIO_DIR: audioDir,
    VOICE_AI_SPOOL_DIR: spoolDir,
    ...extra,
  });

describe('voice-ai doctor', () => {
  it('passes every check against a healthy setup, providers included', async () => {
    const d = await createDomain(sql);
    await addProviderViaCli(d.domain_name, {
      type: 'llm',
      name: 'openai',
      config: { base_url: fake.baseUrl, model: 'gpt-5.4-mini' },
      secret: `api_key=${FAKE_API_KEY}`,
    });
    await addProviderViaCli(d.domain_name, {
      type: 'llm',
      name: 'ollama',
      config: { model: 'off' },
      flags: ['--disabled'],
    });
    const r = await runCli(['doctor', '--domain', d.domain_name], env());
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual([
      'ok   config',
      'ok   database',
      'ok   pgcrypto',
      'ok   migrations',
      'ok   encryption key',
      'ok   esl',
      'ok   audio dir',
      'ok   spool dir',
      'ok   models',
      `ok   provider ${d.domain_name}`,
      'all checks passed',
    ]);
    expect(r.stdout).toContain(`127.0.0.1:${esl.port} authenticated`);
    expect(r.stdout).toMatch(/audio dir: .* writable \(new files 0640\)/);
    expect(r.stdout).toMatch(/provider .*: llm openai gpt-5.4-mini [0-9a-f-]{36} \d+ ms: reply/);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(FAKE_API_KEY);
  });

  it('FAIL and exit 1 when ESL is down, with the reason on its line', async () => {
    const port = await deadPort();
    const d = await createDomain(sql);
    const r = await runCli(
      ['doctor', '--no-providers', '--domain', d.domain_name],
      env({ VOICE_AI_ESL_PORT: String(port) }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`^FAIL esl: 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`, 'm'));
    expect(r.stdout).toMatch(/^ok {3}database/m);
    expect(r.stdout).toMatch(/^skip providers: --no-providers/m);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('1 check(s) failed');
  });

  it('FAIL when the ESL password is refused', async () => {
    const d = await createDomain(sql);
    const r = await runCli(
      ['doctor', '--no-providers', '--domain', d.domain_name],
      env({ VOICE_AI_ESL_PASSWORD: 'wrong' }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL esl: .*password refused \(-ERR invalid\)/m);
  });

  it('FAIL for an audio dir FreeSWITCH cannot enter, a missing spool dir and an unreachable provider', async () => {
    const d = await createDomain(sql);
    await addProviderViaCli(d.domain_name, {
      type: 'embeddings',
      name: 'ollama',
      config: { base_url: `http://127.0.0.1:${await deadPort()}/v1`, model: 'm' },
    });
    const closed = await mkdtemp(path.join(dir, 'closed-'));
    const r = await runCli(
      ['doctor', '--domain', d.domain_name, '--timeout-ms', '2000'],
      env({ VOICE_AI_AUDIO_DIR: closed, VOICE_AI_SPOOL_DIR: path.join(dir, 'absent') }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL audio dir: .*mode 0700: the group \(FreeSWITCH's\) cannot enter it/m);
    expect(r.stdout).toMatch(/^FAIL spool dir: .*absent is not writable \(ENOENT\)/m);
    expect(r.stdout).toMatch(new RegExp(`^FAIL provider ${d.domain_name}: embeddings ollama m `, 'm'));
    expect(r.stdout.trim().split('\n').at(-1)).toBe('3 check(s) failed');
  });

  it('FAIL for an unreachable database, and the rest still runs', async () => {
    const r = await runCli(
      ['doctor', '--timeout-ms', '1000'],
      env({ DATABASE_URL: `postgres://nobody:secret-pw@127.0.0.1:${await deadPort()}/nodb` }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL database: .*ECONNREFUSED/m);
    expect(r.stdout).toMatch(/^skip pgcrypto: no database/m);
    expect(r.stdout).toMatch(/^skip encryption key: no database/m);
    expect(r.stdout).toMatch(/^ok {3}esl/m);
    expect(r.stdout).toMatch(/^skip providers: no database/m);
    expect(r.stdout + r.stderr).not.toContain('secret-pw');
  });

  it('reports a missing DATABASE_URL as a failed check', async () => {
    const r = await runCli(['doctor', '--no-providers'], env({ DATABASE_URL: undefined }));
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^FAIL database: DATABASE_URL is not set/m);
  });
});

describe('voice-ai doctor: the encryption key opens the stored secrets (issue 9 item 4)', () => {
  // A database of its own: a check over every domain would see the shared one's rows under other keys.
  let scratch: { url: string; sql: Sql };
  beforeAll(async () => {
    scratch = await migratedScratch('doctor_key');
  });
  afterAll(async () => {
    await dropScratch(scratch.url, scratch.sql);
  });
  const doctor = (key: string) =>
    runCli(['doctor', '--no-providers'], env({ DATABASE_URL: scratch.url, VOICE_AI_ENCRYPTION_KEY: key }));
  const wrongKey = 'another-key-that-is-long-enough-51c0';

  it('no secrets at all: ok with any key', async () => {
    const r = await doctor(wrongKey);
    expect(r.stdout).toMatch(/^ok {3}encryption key: no provider secrets stored$/m);
    expect(r.code).toBe(0);
  });

  it('secrets under key A: ok with A; FAIL naming the domain with B, exit 1, the key never printed', async () => {
    const d = await createDomain(scratch.sql);
    const scratchEnv = env({ DATABASE_URL: scratch.url });
    await addProviderViaCli(
      d.domain_name,
      { type: 'llm', name: 'openai', config: { model: 'm' }, secret: 'api_key=sk-doctor-key' },
      scratchEnv,
    );
    const good = await doctor(CLI_KEY);
    expect(good.stdout).toMatch(
      /^ok {3}encryption key: the key decrypts the provider secrets of all 1 domain\(s\)$/m,
    );
    expect(good.code).toBe(0);

    const bad = await doctor(wrongKey);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(
      new RegExp(
        `^FAIL encryption key: the encryption key does not decrypt the provider secrets of 1 of 1 ` +
          `domain\\(s\\): ${d.domain_name.replace(/\./g, '\\.')} `,
        'm',
      ),
    );
    expect(bad.stdout.trim().split('\n').at(-1)).toBe('1 check(s) failed');
    expect(bad.stdout + bad.stderr).not.toContain(wrongKey);
    expect(bad.stdout + bad.stderr).not.toContain('sk-doctor-key');
  });
});
