/**
 * Secrets off the command line (issue 9 item 6): --secret-file and --secret-stdin store the same secrets as
 * --secret, which still works but warns, since argv is visible to every local user in `ps`.
 */
import { once } from 'node:events';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createProvidersRepo } from '../../src/store/repos/providers.js';
import { createDomain, testSql } from '../helpers/db.js';
import { spawnCli } from './cli-process.js';
import { CLI_KEY, runCli, uuidIn } from './cli-support.js';

const sql = testSql();
const providers = createProvidersRepo(sql);
const SECRET = 'sk-file-SECRET-value-never-printed-77';
const dirs: string[] = [];

afterAll(async () => {
  await sql.end();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function secretFile(text: string, mode = 0o600): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-secret-test-'));
  dirs.push(dir);
  const file = path.join(dir, 'secrets');
  await writeFile(file, text);
  await chmod(file, mode);
  return file;
}

const addArgs = (domain: string): string[] => [
  'providers',
  'add',
  '--domain',
  domain,
  '--type',
  'llm',
  '--name',
  'openai',
  '--config',
  '{"model":"gpt-5.4-mini"}',
];

describe('provider secrets from a file or stdin', () => {
  it('--secret-file reads key=value lines (comments, blank lines, CRLF) without a warning', async () => {
    const d = await createDomain(sql);
    const file = await secretFile(`# OpenAI\r\n\r\napi_key=${SECRET}\r\norganization=org-1\r\n`);
    const r = await runCli([...addArgs(d.domain_name), '--secret-file', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const stored = await providers.getWithSecrets(d.domain_uuid, uuidIn(r.stdout), CLI_KEY);
    expect(stored?.secrets).toEqual({ api_key: SECRET, organization: 'org-1' });
  });

  it('warns when the secret file is readable by others, and still stores it', async () => {
    const d = await createDomain(sql);
    const file = await secretFile(`api_key=${SECRET}\n`, 0o644);
    const r = await runCli([...addArgs(d.domain_name), '--secret-file', file]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('secret file is readable by other users');
    expect(r.stderr).not.toContain(SECRET);
  });

  it('--secret-stdin reads the same lines from a pipe (a child process, as a shell would run it)', async () => {
    const d = await createDomain(sql);
    const child = spawnCli([...addArgs(d.domain_name), '--secret-stdin']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.stdin.end(`api_key=${SECRET}\n`);
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).not.toContain(SECRET);
    const stored = await providers.getWithSecrets(d.domain_uuid, uuidIn(stdout), CLI_KEY);
    expect(stored?.secrets).toEqual({ api_key: SECRET });
  });

  it('update --secret-file replaces the secrets', async () => {
    const d = await createDomain(sql);
    const added = await runCli([...addArgs(d.domain_name), '--secret-file', await secretFile('api_key=a\n')]);
    const uuid = uuidIn(added.stdout);
    const r = await runCli([
      'providers',
      'update',
      uuid,
      '--domain',
      d.domain_name,
      '--secret-file',
      await secretFile(`api_key=${SECRET}\n`),
    ]);
    expect(r.code).toBe(0);
    expect((await providers.getWithSecrets(d.domain_uuid, uuid, CLI_KEY))?.secrets).toEqual({
      api_key: SECRET,
    });
  });

  it.each([
    [
      'two sources',
      async () => ['--secret', 'api_key=x', '--secret-file', await secretFile('api_key=y\n')],
      /use one of --secret, --secret-file, --secret-stdin/,
    ],
    [
      'a line that is not key=value',
      async () => ['--secret-file', await secretFile(`# c\n${SECRET}\n`)],
      /line 2: expected key=value/,
    ],
    ['no pair at all', async () => ['--secret-file', await secretFile('# nothing\n\n')], /no key=value line/],
    [
      'a missing file',
      async () => ['--secret-file', '/nonexistent/voice-ai-secrets'],
      /--secret-file: cannot read/,
    ],
  ])('refuses %s with exit 2, writing nothing and never echoing a value', async (_what, flags, message) => {
    const d = await createDomain(sql);
    const r = await runCli([...addArgs(d.domain_name), ...(await flags())]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain(SECRET);
    expect(await providers.list(d.domain_uuid)).toEqual([]);
  });
});
