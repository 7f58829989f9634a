import { afterAll, describe, expect, it } from 'vitest';
import { createDomain, testSql } from '../helpers/db.js';
import { cliEnv, runCli } from './cli-support.js';

const sql = testSql();

afterAll(async () => {
  await sql.end();
});

describe('voice-ai domains, help and usage errors', () => {
  it('lists domains as a table and as JSON', async () => {
    const d = await createDomain(sql);
    const table = await runCli(['domains', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^domain_uuid\s+domain_name\s+enabled/);
    expect(table.stdout).toContain(d.domain_name);

    const json = await runCli(['domains', 'list', '--json']);
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as { domain_uuid: string; domain_name: string; enabled: boolean }[];
    expect(rows).toContainEqual({ domain_uuid: d.domain_uuid, domain_name: d.domain_name, enabled: true });
  });

  it.each(['domains', 'providers', 'secretaries', 'conversations', 'dialplan', 'doctor'])(
    '%s --help prints its usage and exits 0 without touching the database',
    async (command) => {
      const r = await runCli([command, '--help'], {});
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage/);
      expect(r.stderr).toBe('');
    },
  );

  it('sub-command --help works too', async () => {
    const r = await runCli(['providers', 'add', '--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('voice-ai providers add');
  });

  it('lists the new commands in the top-level usage', async () => {
    const r = await runCli(['help'], {});
    for (const c of ['domains', 'providers', 'secretaries', 'conversations', 'dialplan', 'doctor']) {
      expect(r.stdout).toContain(`  ${c}`);
    }
  });

  it('an unknown sub-command, an unknown flag or a missing DATABASE_URL is one line on stderr and exit 2', async () => {
    for (const args of [
      ['domains', 'delete'],
      ['domains', 'list', '--bogus'],
      ['providers', 'frobnicate'],
      ['secretaries', 'hasOwnProperty'],
      ['secretaries', 'list', 'extra-arg', '--domain', 'x'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stdout).toBe('');
    }
    // Names of Object.prototype members are unknown commands too, not a crash.
    for (const name of ['constructor', 'toString']) {
      const r = await runCli([name]);
      expect(r.code, name).toBe(2);
      expect(r.stderr, name).toMatch(new RegExp(`^voice-ai: unknown command "${name}"\n`));
    }
    const noDb = await runCli(['domains', 'list'], cliEnv({ DATABASE_URL: undefined }));
    expect(noDb.code).toBe(2);
    expect(noDb.stderr).toContain('DATABASE_URL');
  });

  it('an unknown domain is one clear line and exit 2', async () => {
    const r = await runCli(['providers', 'list', '--domain', 'no-such-domain.example.com']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('voice-ai providers: unknown domain "no-such-domain.example.com"\n');
    const byUuid = await runCli(['secretaries', 'list', '--domain', '00000000-0000-4000-8000-00000000dead']);
    expect(byUuid.code).toBe(2);
    expect(byUuid.stderr).toContain('unknown domain');
  });
});
