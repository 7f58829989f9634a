import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialplanXml, VOICE_AI_APP_UUID } from '../../src/cli/dialplan.js';
import { createDomain, testSql, type Sql, type TestDomain } from '../helpers/db.js';
import { cliEnv, dropScratch, migratedScratch, runCli } from './cli-support.js';

const shared = testSql();
let cacheRoot: string;

beforeAll(async () => {
  cacheRoot = await mkdtemp(path.join(tmpdir(), 'voice-ai-cli-dialplan-'));
});

afterAll(async () => {
  await shared.end();
  await rm(cacheRoot, { recursive: true, force: true });
});

interface DialplanRow {
  dialplan_uuid: string;
  app_uuid: string;
  hostname: string | null;
  dialplan_context: string;
  dialplan_name: string;
  dialplan_number: string;
  dialplan_xml: string;
  dialplan_order: string;
  enabled: string;
  continue: string;
}

/** What FusionPBX reads at call time, typed either way. */
function rowsOf(sql: Sql, d: TestDomain) {
  return sql<DialplanRow[]>`
    SELECT dialplan_uuid, app_uuid, hostname, dialplan_context, dialplan_name, dialplan_number, dialplan_xml,
      dialplan_order::text, dialplan_enabled::text AS enabled, dialplan_continue::text AS continue
    FROM v_dialplans WHERE domain_uuid = ${d.domain_uuid} ORDER BY dialplan_number, dialplan_uuid`;
}

async function cacheWith(...domains: string[]): Promise<string> {
  const dir = await mkdtemp(path.join(cacheRoot, 'cache-'));
  for (const name of domains) await writeFile(path.join(dir, `dialplan.${name}`), '<xml/>');
  return dir;
}

/** The install / re-install / remove cycle, on whichever v_dialplans `sql` has. */
async function installCycle(sql: Sql, env: NodeJS.ProcessEnv, d: TestDomain): Promise<void> {
  const cache = await cacheWith(d.domain_name, 'other.example.com');
  const args = [
    'dialplan',
    'install',
    '--domain',
    d.domain_name,
    '--extension',
    '8000',
    '--cache-dir',
    cache,
  ];
  const first = await runCli([...args, '--fail-open', '1001', '--host', '10.0.0.5:8084'], env);
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(first.stdout).toContain(
    `installed voice-ai-8000 in ${d.domain_name}: socket 10.0.0.5:8084, fail-open transfer to 1001`,
  );
  expect(first.stdout).toContain('note: no enabled secretary on 8000 yet');
  const [row, ...more] = await rowsOf(sql, d);
  expect(more).toEqual([]);
  expect(row).toMatchObject({
    app_uuid: VOICE_AI_APP_UUID,
    hostname: null,
    dialplan_context: d.domain_name,
    dialplan_name: 'voice-ai-8000',
    dialplan_number: '8000',
    dialplan_order: '880',
    enabled: 'true',
    continue: 'false',
  });
  expect(row?.dialplan_xml).toBe(
    [
      `<extension name="voice-ai-8000" continue="false" uuid="${row?.dialplan_uuid}">`,
      '\t<condition field="destination_number" expression="^8000$">',
      '\t\t<action application="socket" data="10.0.0.5:8084 async full"/>',
      `\t\t<action application="transfer" data="1001 XML ${d.domain_name}"/>`,
      '\t</condition>',
      '</extension>',
    ].join('\n'),
  );
  expect(await readdir(cache)).toEqual(['dialplan.other.example.com']);

  // Again, with other settings: the same row (same uuid) is replaced.
  await writeFile(path.join(cache, `dialplan.${d.domain_name}`), '<xml/>');
  const again = await runCli([...args, '--order', '850'], env);
  expect(again.code).toBe(0);
  const [row2, ...more2] = await rowsOf(sql, d);
  expect(more2).toEqual([]);
  expect(row2?.dialplan_uuid).toBe(row?.dialplan_uuid);
  expect(row2?.dialplan_order).toBe('850');
  expect(row2?.dialplan_xml).toContain('data="127.0.0.1:8084 async full"');
  expect(row2?.dialplan_xml).toContain('<action application="hangup" data="NORMAL_TEMPORARY_FAILURE"/>');
  expect(await readdir(cache)).toEqual(['dialplan.other.example.com']);
  const enabled = await sql`
    SELECT 1 FROM v_dialplans WHERE dialplan_context = ${d.domain_name} AND dialplan_enabled::text = 'true'`;
  expect(enabled).toHaveLength(1);

  const removed = await runCli(
    ['dialplan', 'remove', '--domain', d.domain_name, '--extension', '8000', '--cache-dir', cache],
    env,
  );
  expect(removed.code).toBe(0);
  expect(removed.stdout).toContain(`removed voice-ai-8000 from ${d.domain_name}`);
  expect(await rowsOf(sql, d)).toEqual([]);
  const twice = await runCli(
    ['dialplan', 'remove', '--domain', d.domain_name, '--extension', '8000', '--cache-dir', cache],
    env,
  );
  expect(twice.code).toBe(0);
  expect(twice.stdout).toContain('nothing to remove');
}

describe('voice-ai dialplan', () => {
  it('installs, re-installs in place and removes on a boolean v_dialplans (FusionPBX 5.5+)', async () => {
    const d = await createDomain(shared);
    const [type] = await shared<{ data_type: string }[]>`
      SELECT data_type FROM information_schema.columns WHERE table_name = 'v_dialplans' AND column_name = 'dialplan_enabled'`;
    expect(type?.data_type).toBe('boolean');
    await installCycle(shared, cliEnv(), d);
  });

  it('does the same on a text-typed v_dialplans (FusionPBX before 5.5)', async () => {
    const db = await migratedScratch('cli_dialplan_text', (sql) =>
      sql.unsafe(`CREATE TABLE v_dialplans (
        dialplan_uuid uuid PRIMARY KEY, domain_uuid uuid, app_uuid uuid, hostname text, dialplan_context text,
        dialplan_name text, dialplan_number text, dialplan_destination text, dialplan_continue text, dialplan_xml text,
        dialplan_order numeric, dialplan_enabled text, dialplan_description text, insert_date timestamptz,
        insert_user uuid, update_date timestamptz, update_user uuid)`),
    );
    try {
      const [type] = await db.sql<{ data_type: string }[]>`
        SELECT data_type FROM information_schema.columns WHERE table_name = 'v_dialplans' AND column_name = 'dialplan_enabled'`;
      expect(type?.data_type).toBe('text');
      const d = { domain_uuid: randomUUID(), domain_name: 'legacy.example.com' };
      await db.sql`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES (${d.domain_uuid}, ${d.domain_name}, true)`;
      await installCycle(db.sql, cliEnv({ DATABASE_URL: db.url }), d);
    } finally {
      await dropScratch(db.url, db.sql);
    }
  });

  it("falls open to the secretary's transfer_extension by default, and leaves FusionPBX's own rows alone", async () => {
    const d = await createDomain(shared);
    const theirs = randomUUID();
    await shared`
      INSERT INTO v_dialplans (dialplan_uuid, domain_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_number, dialplan_enabled, dialplan_xml, dialplan_order)
      VALUES (${theirs}, ${d.domain_uuid}, ${randomUUID()}, ${d.domain_name}, 'local_extension', '8000', true, '<extension/>', 890)`;
    await runCli([
      'secretaries',
      'add',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--name',
      'A',
      '--transfer-extension',
      '2002',
    ]);
    const cache = await cacheWith();
    const r = await runCli([
      'dialplan',
      'install',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--cache-dir',
      cache,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fail-open transfer to 2002');
    const rows = await rowsOf(shared, d);
    expect(rows).toHaveLength(2);
    expect(rows.find((x) => x.app_uuid === VOICE_AI_APP_UUID)?.dialplan_xml).toContain(
      `data="2002 XML ${d.domain_name}"`,
    );
    await runCli([
      'dialplan',
      'remove',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--cache-dir',
      cache,
    ]);
    expect((await rowsOf(shared, d)).map((x) => x.dialplan_uuid)).toEqual([theirs]);
  });

  it('--print prints the XML and writes nothing', async () => {
    const d = await createDomain(shared);
    const cache = await cacheWith(d.domain_name);
    const r = await runCli([
      'dialplan',
      'install',
      '--domain',
      d.domain_name,
      '--extension',
      '*98',
      '--print',
      '--cache-dir',
      cache,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^<extension name="voice-ai-\*98" continue="false" uuid="[0-9a-f-]{36}">\n/);
    expect(r.stdout).toContain('expression="^\\*98$"');
    expect(await rowsOf(shared, d)).toEqual([]);
    expect(await readdir(cache)).toEqual([`dialplan.${d.domain_name}`]);
  });

  it('escapes values in the XML', () => {
    const xml = dialplanXml({
      dialplanUuid: 'u',
      extension: '+1',
      domainName: 'a&"b<',
      socket: 'h:1',
      failOpen: '9',
    });
    expect(xml).toContain('expression="^\\+1$"');
    expect(xml).toContain('data="9 XML a&amp;&quot;b&lt;"');
  });

  it.each([
    [['--extension', '80x'], /--extension: expected 1 to 32 digits/],
    [['--extension', '8000', '--order', '890'], /--order: expected an integer between 0 and 889/],
    [['--extension', '8000', '--host', 'not a host'], /--host: expected HOST:PORT/],
    [['--extension', '8000', '--fail-open', 'voicemail'], /--fail-open: expected 1 to 32 digits/],
    [[], /--extension is required/],
  ])('install refuses %j (exit 2, nothing written)', async (args, message) => {
    const d = await createDomain(shared);
    const r = await runCli(['dialplan', 'install', '--domain', d.domain_name, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(await rowsOf(shared, d)).toEqual([]);
  });

  it('exits 1 with a clear line when the cache entry cannot be removed (the row stays written)', async () => {
    const d = await createDomain(shared);
    const cache = await cacheWith();
    // A directory where the cache file would be: unlink fails with something other than ENOENT.
    await mkdir(path.join(cache, `dialplan.${d.domain_name}`));
    const r = await runCli([
      'dialplan',
      'install',
      '--domain',
      d.domain_name,
      '--extension',
      '8000',
      '--cache-dir',
      cache,
    ]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      /the row is written, but the dialplan cache .* could not be removed \(E[A-Z]+\)/,
    );
    expect(await rowsOf(shared, d)).toHaveLength(1);
  });

  it('without FusionPBX (no v_dialplans) install refuses and --print still works', async () => {
    const db = await migratedScratch('cli_dialplan_none');
    try {
      await db.sql`DROP TABLE v_dialplans`;
      await db.sql`INSERT INTO v_domains (domain_uuid, domain_name) VALUES (${randomUUID()}, 'plain.example.com')`;
      const env = cliEnv({ DATABASE_URL: db.url });
      const args = ['dialplan', 'install', '--domain', 'plain.example.com', '--extension', '8000'];
      const r = await runCli(args, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('no v_dialplans table: this is not a FusionPBX database (use --print)');
      const printed = await runCli([...args, '--print'], env);
      expect(printed.code).toBe(0);
      expect(printed.stdout).toContain('<action application="socket" data="127.0.0.1:8084 async full"/>');
    } finally {
      await dropScratch(db.url, db.sql);
    }
  });

  it('refuses an unknown domain', async () => {
    const r = await runCli(['dialplan', 'install', '--domain', 'nope.example.com', '--extension', '8000']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown domain "nope.example.com"');
  });
});
