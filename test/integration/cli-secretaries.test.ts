import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createDomain, testSql, type TestDomain } from '../helpers/db.js';
import { runCli, uuidIn } from './cli-support.js';

const sql = testSql();
const secretaries = createSecretariesRepo(sql);

afterAll(async () => {
  await sql.end();
});

async function provider(
  d: TestDomain,
  type: string,
  name: string,
  config = '{"model":"m"}',
): Promise<string> {
  const r = await runCli([
    'providers',
    'add',
    '--domain',
    d.domain_name,
    '--type',
    type,
    '--name',
    name,
    '--config',
    config,
  ]);
  expect(r.stderr).toBe('');
  return uuidIn(r.stdout);
}

describe('voice-ai secretaries', () => {
  it('adds a secretary with every setting, providers by name or uuid', async () => {
    const d = await createDomain(sql);
    const stt = await provider(d, 'stt', 'ollama');
    const llm = await provider(d, 'llm', 'ollama');
    const tts = await provider(d, 'tts', 'espeak', '{}');
    const r = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--name',
      'Recepção',
      '--greeting',
      'Olá!',
      '--farewell',
      'Tchau',
      '--system-prompt',
      'Seja breve.',
      '--language',
      'pt-BR',
      '--voice',
      'nova',
      '--mode',
      'turn_based',
      '--media',
      'unicast',
      '--stt',
      stt,
      '--llm',
      'ollama',
      '--tts',
      'espeak',
      '--transfer-extension',
      '1001',
      '--max-turns',
      '12',
      '--timezone',
      'America/Recife',
      '--max-call-seconds',
      '300',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const row = await secretaries.findByUuid(d.domain_uuid, uuidIn(r.stdout));
    expect(row).toMatchObject({
      extension: '8000',
      name: 'Recepção',
      greeting: 'Olá!',
      farewell: 'Tchau',
      system_prompt: 'Seja breve.',
      language: 'pt-BR',
      voice: 'nova',
      processing_mode: 'turn_based',
      media: 'unicast',
      stt_provider_uuid: stt,
      llm_provider_uuid: llm,
      tts_provider_uuid: tts,
      transfer_extension: '1001',
      max_turns: 12,
      timezone: 'America/Recife',
      max_call_seconds: 300,
    });

    const list = await runCli(['secretaries', 'list', '--domain', d.domain_name]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(
      /8000\s+Recepção\s+true\s+turn_based\s+unicast\s+pt-BR\s+ollama\s+ollama\s+espeak\s+1001/,
    );
    // `default` hands the choice back to the daemon's VOICE_AI_MEDIA.
    const back = await runCli([
      'secretaries',
      'update',
      '8000',
      '--domain',
      d.domain_name,
      '--media',
      'default',
    ]);
    expect(back.code).toBe(0);
    expect((await secretaries.findByExtension(d.domain_uuid, '8000'))?.media).toBeNull();
    const json = JSON.parse(
      (await runCli(['secretaries', 'list', '--domain', d.domain_uuid, '--json'])).stdout,
    ) as { extension: string; stt_provider_uuid: string }[];
    expect(json).toEqual([expect.objectContaining({ extension: '8000', stt_provider_uuid: stt })]);
  });

  it('refuses a second enabled secretary on an extension with one clear line', async () => {
    const d = await createDomain(sql, `dup-${Date.now()}.example.com`);
    expect(
      (await runCli(['secretaries', 'add', '--domain', d.domain_name, '--extension', '8000', '--name', 'A']))
        .code,
    ).toBe(0);
    const r = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--name',
      'B',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `voice-ai secretaries: extension 8000 already has an enabled secretary in ${d.domain_name}\n`,
    );
    expect(await secretaries.list(d.domain_uuid)).toHaveLength(1);
  });

  it('updates by extension or uuid, disables, re-enables; a disabled extension can be reused', async () => {
    const d = await createDomain(sql);
    const uuid = uuidIn(
      (await runCli(['secretaries', 'add', '--domain', d.domain_name, '--extension', '8100', '--name', 'A']))
        .stdout,
    );
    const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-cli-sec-'));
    try {
      const promptFile = path.join(dir, 'prompt.txt');
      await writeFile(promptFile, 'Você atende a clínica.\nSeja breve.');
      const up = await runCli([
        'secretaries',
        'update',
        '8100',
        '--domain',
        d.domain_name,
        '--system-prompt-file',
        promptFile,
        '--voice',
        'none',
        '--max-turns',
        '30',
      ]);
      expect(up.stderr).toBe('');
      expect(up.code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(await secretaries.findByUuid(d.domain_uuid, uuid)).toMatchObject({
      system_prompt: 'Você atende a clínica.\nSeja breve.',
      voice: null,
      max_turns: 30,
    });

    const off = await runCli(['secretaries', 'disable', uuid, '--domain', d.domain_name]);
    expect(off.code).toBe(0);
    expect(off.stdout).toContain('disabled secretary "A" on extension 8100');
    expect((await runCli(['secretaries', 'disable', '8100', '--domain', d.domain_name])).stdout).toContain(
      'already disabled',
    );

    expect(
      (await runCli(['secretaries', 'add', '--domain', d.domain_name, '--extension', '8100', '--name', 'B']))
        .code,
    ).toBe(0);
    const clash = await runCli(['secretaries', 'update', uuid, '--domain', d.domain_name, '--enable']);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain(`extension 8100 already has an enabled secretary in ${d.domain_name}`);
    // By extension, the enabled one is meant.
    expect(
      (await runCli(['secretaries', 'update', '8100', '--domain', d.domain_name, '--name', 'B2'])).code,
    ).toBe(0);
    expect((await secretaries.findByExtension(d.domain_uuid, '8100'))?.name).toBe('B2');
    // Added without --mode: full duplex, media left to the daemon's VOICE_AI_MEDIA.
    expect(await secretaries.findByExtension(d.domain_uuid, '8100')).toMatchObject({
      processing_mode: 'auto',
      media: null,
    });
  });

  it.each([
    [['--extension', '80a0', '--name', 'X'], /--extension: expected 1 to 32 digits/],
    [['--extension', '8000'], /--name is required/],
    [
      ['--extension', '8000', '--name', 'X', '--mode', 'fast'],
      /--mode: expected one of turn_based, realtime, auto/,
    ],
    [
      ['--extension', '8000', '--name', 'X', '--max-turns', '0'],
      /--max-turns: expected an integer between 1 and 200/,
    ],
    [['--extension', '8000', '--name', 'X', '--timezone', 'Mars/Olympus'], /unknown time zone/],
    [
      ['--extension', '8000', '--name', 'X', '--media', 'rtp'],
      /--media: expected one of auto, files, unicast, audio_stream or default/,
    ],
    [['--extension', '8000', '--name', 'X', '--stt', 'nosuch'], /no stt provider named "nosuch"/],
    [['--extension', '8000', '--name', 'X', '--language', 'português'], /--language/],
  ])('add refuses %j (exit 2, nothing written)', async (args, message) => {
    const d = await createDomain(sql);
    const r = await runCli(['secretaries', 'add', '--domain', d.domain_name, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await secretaries.list(d.domain_uuid)).toEqual([]);
  });

  it('refuses a provider of the wrong type or of another domain', async () => {
    const d = await createDomain(sql);
    const other = await createDomain(sql);
    const tts = await provider(d, 'tts', 'espeak', '{}');
    const foreign = await provider(other, 'stt', 'ollama');
    const wrongType = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '1',
      '--name',
      'X',
      '--stt',
      tts,
    ]);
    expect(wrongType.stderr).toContain(`provider ${tts} is a tts provider, not stt`);
    const wrongDomain = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '1',
      '--name',
      'X',
      '--stt',
      foreign,
    ]);
    expect(wrongDomain.code).toBe(2);
    expect(wrongDomain.stderr).toContain(`no provider ${foreign} in ${d.domain_name}`);
  });

  it('update of an unknown secretary, or with nothing to change, is exit 2', async () => {
    const d = await createDomain(sql);
    expect(
      (await runCli(['secretaries', 'update', '9999', '--domain', d.domain_name, '--name', 'X'])).stderr,
    ).toContain('no secretary on extension 9999');
    await runCli(['secretaries', 'add', '--domain', d.domain_name, '--extension', '9999', '--name', 'A']);
    expect((await runCli(['secretaries', 'update', '9999', '--domain', d.domain_name])).stderr).toContain(
      'nothing to update',
    );
  });
});
