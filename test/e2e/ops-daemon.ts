/**
 * `voice-ai run` as a child process (the real CLI through tsx, as systemd would start it), its stdout and
 * stderr collected line by line, plus what the operations tests share: a tenant on a fake OpenAI, call
 * options, conversation rows, HTTP probes and a parser for the Prometheus text.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { PlaceCallOptions } from '../fakes/fake-freeswitch/index.js';
import type { Sql } from '../helpers/db.js';
import { createTenant as createSharedTenant, type Tenant, type TenantOptions } from '../helpers/tenant.js';
import type { ConversationRow } from './call-harness.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The child daemons' pgcrypto key (the tests prove it never reaches a log line). */
export const OPS_ENCRYPTION_KEY = 'ops-encryption-key-3f9a1c7e5b2d8046';

export type LogLine = Record<string, unknown> & { level?: number; msg?: string };

export interface DaemonExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface DaemonProcess {
  readonly pid: number;
  /** Every stdout line, raw, in order. */
  readonly stdout: readonly string[];
  readonly stderr: readonly string[];
  /** The stdout lines that parse as JSON objects, in order. */
  readonly logs: readonly LogLine[];
  readonly outboundPort: number;
  readonly httpPort: number;
  /** Resolves once the process has exited and its output has been read to the end. */
  readonly exited: Promise<DaemonExit>;
  /** The first log line (already printed or still to come) matching `pred`; rejects after `timeoutMs`. */
  waitForLog(pred: (l: LogLine) => boolean, what: string, timeoutMs?: number): Promise<LogLine>;
  signal(sig: NodeJS.Signals): void;
  /** SIGKILLs the process if it still runs, waits for it, deletes its directories. Idempotent. */
  dispose(): Promise<void>;
}

export interface SpawnDaemonOptions {
  databaseUrl: string;
  /** The fake FreeSWITCH's inbound (event socket) port. */
  eslPort: number;
  /** Added to the daemon's environment (VOICE_AI_DRAIN_GRACE_SECONDS, VOICE_AI_LOG_LEVEL, …). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

/**
 * Starts `node --import tsx src/cli/main.ts run` with a minimal environment (nothing of the test runner's
 * VOICE_AI_* leaks in) and resolves once it logged 'voice-ai started'. Ports are 0: the daemon binds free
 * ones and says which in that line, so no port can be taken between choosing and binding it.
 */
export async function spawnDaemon(opts: SpawnDaemonOptions): Promise<DaemonProcess> {
  const audioDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-ops-audio-'));
  const spoolDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-ops-spool-'));
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    TMPDIR: tmpdir(),
    DATABASE_URL: opts.databaseUrl,
    VOICE_AI_ENCRYPTION_KEY: OPS_ENCRYPTION_KEY,
    VOICE_AI_ESL_PORT: String(opts.eslPort),
    VOICE_AI_OUTBOUND_PORT: '0',
    VOICE_AI_HTTP_PORT: '0',
    VOICE_AI_AUDIO_DIR: audioDir,
    VOICE_AI_SPOOL_DIR: spoolDir,
    VOICE_AI_DB_POOL_MAX: '4',
    ...opts.env,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const logs: LogLine[] = [];
  const waiters = new Set<{ pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  const onExit = new Set<() => void>();

  createInterface({ input: child.stdout }).on('line', (line) => {
    stdout.push(line);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return;
    }
    if (parsed === null || typeof parsed !== 'object') return;
    const l = parsed as LogLine;
    logs.push(l);
    for (const w of [...waiters]) {
      if (w.pred(l)) {
        waiters.delete(w);
        w.resolve(l);
      }
    }
  });
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));

  let running = true;
  // 'close' comes after the output streams ended, so every line has been read by then.
  const exited = new Promise<DaemonExit>((resolve) => {
    child.once('close', (code, signal) => {
      running = false;
      resolve({ code, signal });
      for (const f of onExit) f();
    });
  });

  const tail = (): string => [...stdout.slice(-15), ...stderr.slice(-15)].join('\n');
  const waitForLog = (pred: (l: LogLine) => boolean, what: string, timeoutMs = 10_000): Promise<LogLine> => {
    const seen = logs.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const fail = (why: string): void => {
        cleanup();
        reject(new Error(`daemon ${why} before logging ${what}; last output:\n${tail()}`));
      };
      const timer = setTimeout(() => fail(`went ${timeoutMs} ms`), timeoutMs);
      const gone = (): void => fail('exited');
      const waiter = {
        pred,
        resolve: (l: LogLine) => {
          cleanup();
          resolve(l);
        },
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(waiter);
        onExit.delete(gone);
      };
      waiters.add(waiter);
      if (running) onExit.add(gone);
      else gone();
    });
  };

  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> =>
    (disposed ??= (async () => {
      if (running) child.kill('SIGKILL');
      await exited;
      await rm(audioDir, { recursive: true, force: true });
      await rm(spoolDir, { recursive: true, force: true });
    })());

  let started: LogLine;
  try {
    started = await waitForLog(
      (l) => l.msg === 'voice-ai started',
      "'voice-ai started'",
      opts.startTimeoutMs,
    );
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    pid: child.pid ?? 0,
    stdout,
    stderr,
    logs,
    outboundPort: Number(started['outboundPort']),
    httpPort: Number(started['httpPort']),
    exited,
    waitForLog,
    signal: (sig) => {
      if (running) child.kill(sig);
    },
    dispose,
  };
}

export type { ProviderKey } from '../helpers/tenant.js';
export type OpsTenant = Tenant;

/** createTenant with the child daemons' key unless another is given. */
export function createTenant(
  sql: Sql,
  opts: Omit<TenantOptions, 'encryptionKey'> & { encryptionKey?: string },
): Promise<OpsTenant> {
  return createSharedTenant(sql, { ...opts, encryptionKey: opts.encryptionKey ?? OPS_ENCRYPTION_KEY });
}

/** What the dialplan's `socket` app would send for a call to `t`'s secretary on the daemon at `port`. */
export function callTo(t: OpsTenant, port: number, over: Partial<PlaceCallOptions> = {}): PlaceCallOptions {
  return {
    target: { host: '127.0.0.1', port },
    domainUuid: t.domain_uuid,
    domainName: t.domain_name,
    destinationNumber: t.extension,
    callerIdNumber: '5511999990000',
    callerIdName: 'Maria',
    ...over,
  };
}

/** The conversation row of a call once its end was written (the write queue is asynchronous). */
export async function endedConversation(
  sql: Sql,
  callUuid: string,
  timeoutMs = 10_000,
): Promise<ConversationRow> {
  return pollUntil(
    async () => {
      const rows = await sql<ConversationRow[]>`
      SELECT * FROM v_voice_conversations WHERE call_uuid = ${callUuid} AND ended_at IS NOT NULL`;
      return rows[0];
    },
    `an ended conversation for call ${callUuid}`,
    timeoutMs,
  );
}

/** Re-evaluates `probe` every `intervalMs` until it yields a value other than undefined; rejects after `timeoutMs`. */
export async function pollUntil<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface HttpAnswer {
  status: number;
  contentType: string;
  text: string;
}

export async function httpGet(port: number, pathName: string): Promise<HttpAnswer> {
  const res = await fetch(`http://127.0.0.1:${port}${pathName}`);
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** One sample of the Prometheus text format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition text's samples (comments skipped). Label values here never hold `",` or `}`. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1] ?? ''] = l[2] ?? '';
    }
    out.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return out;
}

/** The samples named `name` whose labels include `labels`. */
export function samples(all: readonly Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
