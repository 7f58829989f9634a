import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createPool, type Sql } from '../store/db.js';
import { isTraversableByOthers, startEmbeddedPostgres, type EmbeddedCluster } from '../store/embedded.js';
import { migrate, migrationStatus } from '../store/migrations.js';
import { parseFlags, printTable } from './args.js';

export const demoHelp = `Usage: voice-ai demo [--data-dir DIR]

Runs offline on embedded defaults: starts an embedded PostgreSQL in DIR (default .data/demo-pg),
creates a stand-in for FusionPBX's v_domains, applies the migrations and prints the schema status.
With DATABASE_URL set it uses that database instead of starting one.`;

const HERE = path.dirname(fileURLToPath(import.meta.url));
// src/cli when run with tsx, dist/src/cli after tsc.
const REPO_ROOT = [path.resolve(HERE, '../..'), path.resolve(HERE, '../../..')].find((d) =>
  existsSync(path.join(d, 'sql', 'fusionpbx-standin.sql')),
);

/** Creates FusionPBX's v_domains stand-in unless the database already has the real one. */
export async function ensureFusionPbxStandIn(sql: Sql): Promise<boolean> {
  const [row] = await sql<
    { exists: boolean }[]
  >`SELECT to_regclass('public.v_domains') IS NOT NULL AS exists`;
  if (row?.exists) return false;
  await sql.unsafe(await readFile(path.join(REPO_ROOT ?? '.', 'sql', 'fusionpbx-standin.sql'), 'utf8'));
  return true;
}

export async function runDemo(
  argv: string[],
  config: Config,
  log: Logger,
  out: (s: string) => void,
): Promise<number> {
  const { values } = parseFlags(argv, { 'data-dir': { type: 'string' } });
  let cluster: EmbeddedCluster | undefined;
  let url = config.databaseUrl;
  if (url === undefined) {
    const dataDir = values['data-dir'] ?? defaultDemoDataDir();
    out(`starting embedded PostgreSQL in ${dataDir} ...`);
    cluster = await startEmbeddedPostgres({ dataDir, persistent: true });
    url = cluster.adminUrl;
  }
  const sql = createPool({ url, max: 4 });
  try {
    if (await ensureFusionPbxStandIn(sql))
      out('created a stand-in v_domains table (FusionPBX owns the real one)');
    const result = await migrate(sql, { log: (msg, fields) => log.debug(fields ?? {}, msg) });
    out(`migrations: ${result.applied.length} applied now, ${result.alreadyApplied} already applied`);
    printTable(
      (await migrationStatus(sql)).map((r) => ({ version: r.version, name: r.name, state: r.state })),
      false,
      out,
    );
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
    await cluster?.stop();
  }
}

/**
 * `.data/demo-pg` in the working directory, unless we run as root inside a folder the `postgres` user cannot
 * enter (a 0700 checkout): then a stable folder under the system temp dir, named after the working directory.
 */
function defaultDemoDataDir(): string {
  const local = path.join(process.cwd(), '.data', 'demo-pg');
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!asRoot || isTraversableByOthers(path.dirname(local))) return local;
  const tag = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 12);
  return path.join(tmpdir(), `voice-ai-demo-${tag}`, 'demo-pg');
}
