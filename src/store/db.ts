import postgres from 'postgres';

export type Sql = postgres.Sql;

export interface PoolOptions {
  url: string;
  /** Connections in the pool. Default 20. */
  max?: number;
  /** Close a connection idle this long. Default 300. */
  idleTimeoutSeconds?: number;
  /** Give up connecting after this long. Default 10. */
  connectTimeoutSeconds?: number;
  /** Server-side statement_timeout of every session; 0 disables it. Default 30000. */
  statementTimeoutMs?: number;
  /** Server NOTICEs (e.g. "already exists, skipping"); dropped by default. */
  onNotice?: (notice: postgres.Notice) => void;
  /** application_name, as seen in pg_stat_activity. Default 'voice-ai'. */
  applicationName?: string;
}

/** A postgres.js pool with the daemon's session settings. Rows keep the database's snake_case column names. */
export function createPool(opts: PoolOptions): Sql {
  return postgres(opts.url, {
    max: opts.max ?? 20,
    idle_timeout: opts.idleTimeoutSeconds ?? 300,
    connect_timeout: opts.connectTimeoutSeconds ?? 10,
    onnotice: opts.onNotice ?? (() => undefined),
    connection: {
      application_name: opts.applicationName ?? 'voice-ai',
      statement_timeout: opts.statementTimeoutMs ?? 30_000,
    },
  });
}
