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

/** Socket errnos and postgres.js' own codes for a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: starting up or recovering
  '53300', // too_many_connections
]);

/**
 * True when the database could not be reached or dropped the connection (the server is away), false for an
 * error the query itself caused or that the server returned about it (a constraint, a missing table, a
 * statement timeout, bad credentials): those say the database is there and answering.
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof AggregateError && err.errors.some(isConnectionError)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return false;
  // SQLSTATE class 08: connection exception.
  return CONNECTION_CODES.has(code) || (code.length === 5 && code.startsWith('08'));
}
