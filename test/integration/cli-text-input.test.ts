import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { createDomain, testSql } from '../helpers/db.js';
import { runCli, uuidIn } from './cli-support.js';

const sql = testSql();
let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'voice-ai-text-input-'));
});
afterAll(async () => {
  await sql.end();
  await rm(tmp, { recursive: true, force: true });
});

describe('text that PostgreSQL text columns cannot hold', () => {
  it('a NUL byte or invalid UTF-8 in --system-prompt-file is a usage error (exit 2), before the database', async () => {
    const d = await createDomain(sql);
    const added = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--name',
      'Ana',
    ]);
    expect(added.code).toBe(0);
    const uuid = uuidIn(added.stdout);

    const nul = path.join(tmp, 'nul.txt');
    await writeFile(nul, Buffer.from('Você é Ana.\0 resto', 'utf8'));
    const r = await runCli([
      'secretaries',
      'update',
      uuid,
      '--domain',
      d.domain_name,
      '--system-prompt-file',
      nul,
    ]);
    expect(r.stderr).toBe(
      `voice-ai secretaries: --system-prompt-file: ${nul} has a NUL byte at offset 13; expected UTF-8 text\n`,
    );
    expect(r.code).toBe(2);

    const latin1 = path.join(tmp, 'latin1.txt');
    await writeFile(latin1, Buffer.from('Voc\xea \xe9 Ana.', 'latin1'));
    const bad = await runCli([
      'secretaries',
      'update',
      uuid,
      '--domain',
      d.domain_name,
      '--system-prompt-file',
      latin1,
    ]);
    expect(bad.stderr).toBe(
      `voice-ai secretaries: --system-prompt-file: ${latin1} is not valid UTF-8 text\n`,
    );
    expect(bad.code).toBe(2);

    const ok = path.join(tmp, 'ok.txt');
    await writeFile(ok, '\ufeffVocê é Ana, da Conceição Ltda.\n');
    const good = await runCli([
      'secretaries',
      'update',
      uuid,
      '--domain',
      d.domain_name,
      '--system-prompt-file',
      ok,
    ]);
    expect(good.code).toBe(0);
    const row = await createSecretariesRepo(sql).findByUuid(d.domain_uuid, uuid);
    expect(row?.system_prompt).toBe('Você é Ana, da Conceição Ltda.\n');
  });

  it('a NUL character in a name or greeting given as an argument is a usage error too', async () => {
    const d = await createDomain(sql);
    const r = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '8001',
      '--name',
      'A\0na',
    ]);
    expect(r.stderr).toBe('voice-ai secretaries: --name: contains a NUL character\n');
    expect(r.code).toBe(2);
    const g = await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '8001',
      '--name',
      'Ana',
      '--greeting',
      'Olá\0',
    ]);
    expect(g.stderr).toBe('voice-ai secretaries: --greeting: contains a NUL character\n');
    expect(g.code).toBe(2);
    expect(await createSecretariesRepo(sql).list(d.domain_uuid)).toEqual([]);
  });
});
