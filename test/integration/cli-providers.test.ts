import { afterAll, describe, expect, it } from 'vitest';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createDomain, testSql } from '../helpers/db.js';
import { CLI_KEY, addProviderViaCli, cliEnv, runCli, uuidIn } from './cli-support.js';

const sql = testSql();
const providers = createProvidersRepo(sql);
const SECRET = 'sk-cli-SECRET-value-never-printed-42';

afterAll(async () => {
  await sql.end();
});

describe('voice-ai providers add / list / update / remove', () => {
  it('adds a provider with an encrypted secret; list shows has_secrets, never the value', async () => {
    const d = await createDomain(sql);
    const add = await runCli([
      'providers',
      'add',
      '--domain',
      d.domain_name,
      '--type',
      'llm',
      '--name',
      'openai',
      '--config',
      '{"model":"gpt-4o-mini"}',
      '--secret',
      `api_key=${SECRET}`,
      '--default',
      '--priority',
      '5',
    ]);
    expect(add.code).toBe(0);
    // --secret still works, with a warning that names the safe ways; the value itself is never echoed.
    expect(add.stderr).toContain('use --secret-file PATH or --secret-stdin');
    expect(add.stderr).not.toContain(SECRET);
    const uuid = uuidIn(add.stdout);
    const stored = await providers.getWithSecrets(d.domain_uuid, uuid, CLI_KEY);
    expect(stored).toMatchObject({
      provider_name: 'openai',
      is_default: true,
      priority: 5,
      secrets: { api_key: SECRET },
    });

    for (const args of [['--json'], []]) {
      const list = await runCli(['providers', 'list', '--domain', d.domain_uuid, ...args]);
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(uuid);
      expect(list.stdout).not.toContain(SECRET);
      expect(list.stdout).not.toContain('sk-cli');
    }
    const rows = JSON.parse(
      (await runCli(['providers', 'list', '--domain', d.domain_name, '--json'])).stdout,
    ) as Record<string, unknown>[];
    expect(rows).toEqual([
      expect.objectContaining({
        provider_uuid: uuid,
        type: 'llm',
        name: 'openai',
        has_secrets: true,
        default: true,
        config: { model: 'gpt-4o-mini' },
      }),
    ]);
    expect(Object.keys(rows[0] ?? {})).not.toContain('secrets');
  });

  it('filters the list by --type', async () => {
    const d = await createDomain(sql);
    await addProviderViaCli(d.domain_name, { type: 'llm', name: 'ollama', config: { model: 'llama3' } });
    await addProviderViaCli(d.domain_name, { type: 'tts', name: 'espeak' });
    const rows = JSON.parse(
      (await runCli(['providers', 'list', '--domain', d.domain_name, '--type', 'tts', '--json'])).stdout,
    ) as { name: string }[];
    expect(rows.map((r) => r.name)).toEqual(['espeak']);
  });

  it('updates config, secrets, default, priority and enabled; removes', async () => {
    const d = await createDomain(sql);
    const uuid = await addProviderViaCli(d.domain_name, {
      type: 'stt',
      name: 'groq',
      config: { model: 'whisper-large-v3' },
      secret: 'api_key=a',
    });
    const up = await runCli([
      'providers',
      'update',
      uuid,
      '--domain',
      d.domain_name,
      '--config',
      '{"model":"whisper-large-v3-turbo"}',
      '--secret',
      'api_key=b',
      '--default',
      '--priority',
      '7',
      '--disable',
    ]);
    expect(up.stderr).toContain('secret given with --secret');
    expect(up.code).toBe(0);
    expect(await providers.getWithSecrets(d.domain_uuid, uuid, CLI_KEY)).toMatchObject({
      config: { model: 'whisper-large-v3-turbo' },
      secrets: { api_key: 'b' },
      is_default: true,
      priority: 7,
      is_enabled: false,
    });
    expect((await runCli(['providers', 'update', uuid, '--domain', d.domain_name, '--enable'])).code).toBe(0);
    expect((await providers.findByUuid(d.domain_uuid, uuid))?.is_enabled).toBe(true);

    const rm = await runCli(['providers', 'remove', uuid, '--domain', d.domain_name]);
    expect(rm.code).toBe(0);
    expect(await providers.findByUuid(d.domain_uuid, uuid)).toBeUndefined();
    const again = await runCli(['providers', 'remove', uuid, '--domain', d.domain_name]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`no provider ${uuid}`);
  });

  it("cannot touch another domain's provider", async () => {
    const a = await createDomain(sql);
    const b = await createDomain(sql);
    const uuid = await addProviderViaCli(a.domain_name, { type: 'tts', name: 'espeak' });
    for (const sub of [
      ['remove', uuid],
      ['update', uuid, '--priority', '1'],
      ['test', uuid],
    ]) {
      const r = await runCli(['providers', ...sub, '--domain', b.domain_name]);
      expect(r.code, sub[0]).toBe(2);
    }
    expect(await providers.findByUuid(a.domain_uuid, uuid)).toBeDefined();
  });

  it.each([
    [['--name', 'openai', '--config', '{"model": '], /--config: not valid JSON/],
    [['--name', 'openai', '--config', '[1,2]'], /--config: expected a JSON object/],
    [['--name', 'deepgram'], /unknown provider name "deepgram" \(known: openai, groq, ollama/],
    [
      ['--name', 'openai'],
      /provider openai needs its API key: add --secret-file PATH with an api_key=\.\.\. line/,
    ],
    [['--name', 'ollama'], /config\.model is required/],
    [
      ['--name', 'ollama', '--config', '{"model":"m","base_url":"ftp://x"}'],
      /base_url must be http or https/,
    ],
    [['--name', 'openai', '--secret', 'api_key'], /--secret: expected key=value/],
    [
      ['--name', 'ollama', '--config', '{"model":"m"}', '--priority', 'high'],
      /--priority: expected an integer/,
    ],
    [['--name', 'espeak'], /'espeak' provides tts only/],
    [
      ['--type', 'embeddings', '--name', 'local-hash', '--config', '{"dimensions":-1}'],
      /config\.dimensions must be a positive/,
    ],
  ])('add refuses %j with one line, exit 2, nothing written', async (extra, message) => {
    const d = await createDomain(sql);
    const r = await runCli(['providers', 'add', '--domain', d.domain_name, '--type', 'llm', ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(await providers.list(d.domain_uuid)).toEqual([]);
  });

  it('refuses an unknown --type and a missing --domain', async () => {
    const d = await createDomain(sql);
    const t = await runCli([
      'providers',
      'add',
      '--domain',
      d.domain_name,
      '--type',
      'asr',
      '--name',
      'espeak',
    ]);
    expect(t.code).toBe(2);
    expect(t.stderr).toContain('--type: expected one of stt, tts, llm, embeddings, realtime');
    const m = await runCli(['providers', 'list']);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain('--domain is required');
  });

  it('a secret without an encryption key is refused before anything is written; list works without the key', async () => {
    const d = await createDomain(sql);
    const env = cliEnv({ VOICE_AI_ENCRYPTION_KEY: undefined });
    const r = await runCli(
      [
        'providers',
        'add',
        '--domain',
        d.domain_name,
        '--type',
        'llm',
        '--name',
        'groq',
        '--config',
        '{"model":"x"}',
        '--secret',
        'api_key=k',
      ],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('VOICE_AI_ENCRYPTION_KEY');
    expect(await providers.list(d.domain_uuid)).toEqual([]);
    expect((await runCli(['providers', 'list', '--domain', d.domain_name], env)).code).toBe(0);
  });

  it('update with nothing to change, both --enable and --disable, or a malformed uuid is exit 2', async () => {
    const d = await createDomain(sql);
    const uuid = uuidIn(
      (await runCli(['providers', 'add', '--domain', d.domain_name, '--type', 'tts', '--name', 'espeak']))
        .stdout,
    );
    expect((await runCli(['providers', 'update', uuid, '--domain', d.domain_name])).stderr).toContain(
      'nothing to update',
    );
    expect(
      (await runCli(['providers', 'update', uuid, '--domain', d.domain_name, '--enable', '--disable'])).code,
    ).toBe(2);
    const bad = await runCli([
      'providers',
      'update',
      'not-a-uuid',
      '--domain',
      d.domain_name,
      '--priority',
      '1',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not a provider uuid');
  });
});
