import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createPool } from '../store/db.js';
import { migrate, migrationStatus } from '../store/migrations.js';
import { parseFlags, printTable } from './args.js';

export const migrateHelp = `Usage: voice-ai migrate [--status] [--json]

Applies the missing sql/NNN_*.sql migrations to DATABASE_URL under an advisory lock
(safe to run from several hosts at once). --status lists each migration's state instead.`;

/** `voice-ai migrate [--status]`: returns the exit code. */
export async function runMigrate(
  argv: string[],
  config: Config,
  log: Logger,
  out: (s: string) => void,
): Promise<number> {
  const { values } = parseFlags(argv, { status: { type: 'boolean' }, json: { type: 'boolean' } });
  if (values.help) {
    out(migrateHelp);
    return 0;
  }
  // No statement timeout: waiting for another host's migration, or a long migration, is legitimate here.
  const sql = createPool({ url: config.databaseUrl ?? '', max: 2, statementTimeoutMs: 0 });
  try {
    if (values.status) {
      const rows = await migrationStatus(sql);
      printTable(
        rows.map((r) => ({
          version: r.version,
          name: r.name,
          state: r.state,
          applied_at: r.appliedAt ?? null,
        })),
        values.json === true,
        out,
      );
      return rows.some((r) => r.state === 'changed' || r.state === 'missing_file') ? 1 : 0;
    }
    const result = await migrate(sql, { log: (msg, fields) => log.info(fields ?? {}, msg) });
    for (const w of result.warnings) log.warn({ warning: w }, 'migration warning');
    out(
      result.applied.length === 0
        ? `schema up to date (${result.alreadyApplied} migrations applied)`
        : `applied ${result.applied.map((a) => `${a.version}_${a.name}`).join(', ')}`,
    );
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
