import { randomUUID } from 'node:crypto';
import { rm, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { withTimeout } from '../core/abort.js';
import { EslCommandError } from '../core/errors.js';
import { EslConnection } from '../esl/index.js';
import { verifyKey } from '../store/key-check.js';
import { migrationStatus } from '../store/migrations.js';
import type { Repos } from '../store/repos/index.js';
import type { ProviderRow } from '../store/repos/types.js';
import type { Sql } from '../store/db.js';
import { parseFlags } from './args.js';
import { checkModelShutdowns } from './model-shutdowns.js';
import { describeProbe, probeProvider, type ProbeResult } from './provider-probe.js';
import { intFlag, positionals, resolveDomain, withRepos } from './resolve.js';

export const doctorHelp = `Usage: voice-ai doctor [--no-providers] [--domain D] [--timeout-ms 5000]

Checks, one line each (ok / FAIL / skip), and exits 1 if any fails:
  config (a configuration that does not load is reported before any check, exit 2), database reachable,
  pgcrypto installed, migrations all applied, the encryption key opens the stored provider secrets (one
  row per domain; --domain only that domain's), ESL reachable and the password accepted
  (VOICE_AI_ESL_HOST:PORT), audio dir writable with group-readable files (FreeSWITCH reads them as
  another user), spool dir writable, and every enabled provider of every domain (one tiny real request
  each; --domain checks only that domain's, --no-providers none). A provider whose model its vendor has
  announced for shutdown gets a warn line with the date, and FAIL from that day on.`;

type Out = (s: string) => void;
type Status = 'ok' | 'FAIL' | 'skip' | 'warn';

/** `voice-ai doctor`: returns 0 when every check passed (warnings included), else 1. */
export async function runDoctor(
  argv: string[],
  config: Config,
  log: Logger,
  out: Out,
  deps: { now?: () => Date } = {},
): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    'no-providers': { type: 'boolean' },
    domain: { type: 'string' },
    'timeout-ms': { type: 'string' },
  });
  positionals(args, 0, 'voice-ai doctor [--no-providers] [--domain D]');
  const timeoutMs = intFlag(values['timeout-ms'], 'timeout-ms', 100, 120_000) ?? 5000;
  // Library warnings (socket errors, skipped rows) would repeat what the check lines say.
  const quiet = log.isLevelEnabled('debug') ? log : log.child({}, { level: 'error' });
  let failed = 0;
  let warned = 0;
  const report = (name: string, status: Status, detail: string): void => {
    if (status === 'FAIL') failed++;
    if (status === 'warn') warned++;
    out(`${status.padEnd(4)} ${name}: ${detail}`);
  };
  const check = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
    try {
      report(name, 'ok', await fn());
      return true;
    } catch (err) {
      report(name, 'FAIL', describe(err));
      return false;
    }
  };

  report('config', 'ok', 'loaded');
  const afterDatabase = async (repos: Repos | undefined, sql: Sql | undefined): Promise<void> => {
    await check('esl', () => checkEsl(config, quiet, timeoutMs));
    await check('audio dir', () => checkDir(config.audioDir, true));
    await check('spool dir', () => checkDir(config.spoolDir, false));
    if (values['no-providers'] === true) report('providers', 'skip', '--no-providers');
    else if (repos === undefined || sql === undefined) report('providers', 'skip', 'no database');
    else {
      await checkModelShutdowns(repos, values.domain, deps.now?.() ?? new Date(), report);
      await checkProviders(repos, config, values.domain, { log: quiet, timeoutMs }, report);
    }
  };

  if (config.databaseUrl === undefined) {
    report('database', 'FAIL', 'DATABASE_URL is not set');
    await afterDatabase(undefined, undefined);
  } else {
    await withRepos(
      config,
      async (repos, sql) => {
        const reachable = await check('database', async () => {
          const [row] = await sql<{ v: string }[]>`SELECT current_setting('server_version') AS v`;
          return `${where(config.databaseUrl ?? '')} (PostgreSQL ${row?.v ?? '?'})`;
        });
        if (reachable) {
          await check('pgcrypto', async () => {
            const [row] = await sql<
              { v: string }[]
            >`SELECT extversion AS v FROM pg_extension WHERE extname = 'pgcrypto'`;
            if (row === undefined)
              throw new Error('not installed (CREATE EXTENSION pgcrypto, or run voice-ai migrate)');
            return `version ${row.v}`;
          });
          await check('migrations', () => checkMigrations(sql));
          await check('encryption key', () => checkEncryptionKey(repos, sql, config, values.domain));
        } else {
          report('pgcrypto', 'skip', 'no database');
          report('migrations', 'skip', 'no database');
          report('encryption key', 'skip', 'no database');
        }
        await afterDatabase(reachable ? repos : undefined, reachable ? sql : undefined);
      },
      { connectTimeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)) },
    );
  }
  const warnings = warned === 0 ? '' : `, ${warned} warning(s)`;
  out(failed === 0 ? `all checks passed${warnings}` : `${failed} check(s) failed${warnings}`);
  return failed === 0 ? 0 : 1;
}

/** host:port/database of a URL: never the password. */
function where(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`.replace(/\s*\n\s*/g, ' ');
}

async function checkMigrations(sql: Sql): Promise<string> {
  const entries = await migrationStatus(sql);
  const bad = entries.filter((e) => e.state !== 'applied');
  if (bad.length > 0) {
    const list = bad.map((e) => `${String(e.version).padStart(3, '0')}_${e.name} ${e.state}`).join(', ');
    throw new Error(`${list} (run voice-ai migrate)`);
  }
  return `${entries.length} applied`;
}

/** Trial-decrypts one secret-bearing provider row per domain (only --domain's when given). */
async function checkEncryptionKey(
  repos: Repos,
  sql: Sql,
  config: Config,
  domainFlag: string | undefined,
): Promise<string> {
  const domainUuid =
    domainFlag === undefined ? undefined : (await resolveDomain(repos, domainFlag)).domain_uuid;
  const verdict = await verifyKey(sql, config.encryptionKey, domainUuid === undefined ? {} : { domainUuid });
  if (!verdict.ok) throw new Error(verdict.detail);
  return verdict.detail;
}

/** Connects, waits for auth/request, sends the password: what the daemon's inbound connection does first. */
async function checkEsl(config: Config, log: Logger, timeoutMs: number): Promise<string> {
  const { host, port, password } = config.esl;
  let onAuthRequest!: () => void;
  let onFailure!: (err: Error) => void;
  const authRequest = new Promise<void>((resolve, reject) => {
    onAuthRequest = resolve;
    onFailure = reject;
  });
  const conn = new EslConnection(connect({ host, port }), {
    log,
    commandTimeoutMs: timeoutMs,
    handlers: {
      onEvent: () => undefined,
      onNotice: (frame) => {
        if (frame.contentType === 'auth/request') onAuthRequest();
        else if (frame.contentType === 'text/rude-rejection')
          onFailure(new Error('refused by the event socket ACL'));
      },
      onClose: (reason) => onFailure(reason ?? new Error('connection closed')),
    },
  });
  try {
    await withTimeout(authRequest, timeoutMs, `${host}:${port} auth/request`);
    try {
      await conn.command(`auth ${password}`, { timeoutMs });
    } catch (err) {
      if (err instanceof EslCommandError) throw new Error(`password refused (${err.reply.trim()})`);
      throw err;
    }
    return `${host}:${port} authenticated`;
  } catch (err) {
    throw new Error(`${host}:${port}: ${describe(err)}`);
  } finally {
    conn.destroy();
  }
}

/** Creates, stats and removes a file the way the daemon writes audio (mode 0640). */
async function checkDir(dir: string, groupReadable: boolean): Promise<string> {
  const file = path.join(dir, `.voice-ai-doctor-${randomUUID()}.tmp`);
  try {
    await writeFile(file, 'voice-ai doctor\n', { mode: 0o640, flag: 'wx' });
  } catch (err) {
    throw new Error(`${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? describe(err)})`);
  }
  try {
    const fileMode = (await stat(file)).mode & 0o777;
    const dirMode = (await stat(dir)).mode & 0o777;
    const octal = (m: number): string => `0${m.toString(8)}`;
    if (groupReadable && (fileMode & 0o040) === 0) {
      throw new Error(`${dir}: new files get mode ${octal(fileMode)}, not group-readable (check the umask)`);
    }
    if (groupReadable && (dirMode & 0o010) === 0) {
      throw new Error(`${dir} has mode ${octal(dirMode)}: the group (FreeSWITCH's) cannot enter it`);
    }
    return `${dir} writable (new files ${octal(fileMode)})`;
  } finally {
    await rm(file, { force: true });
  }
}

async function checkProviders(
  repos: Repos,
  config: Config,
  domainFlag: string | undefined,
  opts: { log: Logger; timeoutMs: number },
  report: (name: string, status: Status, detail: string) => void,
): Promise<void> {
  const domains =
    domainFlag === undefined
      ? (await repos.domains.list()).map((d) => ({ ...d, domain_name: d.domain_name ?? d.domain_uuid }))
      : [await resolveDomain(repos, domainFlag)];
  let count = 0;
  for (const domain of domains) {
    const rows = await repos.providers.list(domain.domain_uuid, { enabledOnly: true });
    // A few at a time, printed in order: each waits on a vendor for up to timeoutMs.
    for (let i = 0; i < rows.length; i += 4) {
      const batch = rows.slice(i, i + 4);
      const results = await Promise.all(batch.map((row) => probeRow(repos, config, row, opts)));
      batch.forEach((row, j) => {
        const r = results[j] ?? { status: 'fail', ms: 0, detail: 'no result' };
        const name = `provider ${domain.domain_name}`;
        report(name, r.status === 'ok' ? 'ok' : r.status === 'skip' ? 'skip' : 'FAIL', describeProbe(row, r));
      });
      count += batch.length;
    }
  }
  if (count === 0) report('providers', 'skip', 'no enabled provider');
}

async function probeRow(
  repos: Repos,
  config: Config,
  row: ProviderRow,
  opts: { log: Logger; timeoutMs: number },
): Promise<ProbeResult> {
  try {
    const full = await repos.providers.getWithSecrets(
      row.domain_uuid,
      row.provider_uuid,
      config.encryptionKey ?? '',
    );
    if (full === undefined) return { status: 'skip', ms: 0, detail: 'removed meanwhile' };
    return await probeProvider(full, opts);
  } catch (err) {
    return { status: 'fail', ms: 0, detail: describe(err) };
  }
}
