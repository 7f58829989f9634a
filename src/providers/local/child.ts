/**
 * One external program run for a provider (espeak-ng, pocketsphinx): spawned without a shell, its stdout
 * read as a stream, the tail of its stderr kept for the error message, killed when the signal aborts, and
 * always reaped before `close()` resolves, so an aborted turn leaves neither a running child nor a zombie.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { throwIfAborted } from '../../core/abort.js';
import { AbortedError, ProviderError } from '../../core/errors.js';

/** Enough of stderr to say why a program failed, not a whole debug log (pocketsphinx logs a lot). */
const STDERR_TAIL_BYTES = 2048;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last couple of kilobytes the program wrote to stderr. */
  stderr: string;
}

export interface RunningChild {
  readonly pid: number;
  readonly stdout: Readable;
  /** Resolves when the program has exited and its pipes are closed. */
  readonly exited: Promise<ChildExit>;
  /** Kills the program if it still runs and waits until it is reaped; idempotent. */
  close(): Promise<void>;
}

export interface StartOptions {
  vendor: string;
  command: string;
  args: readonly string[];
  /** The message when the program is not installed, naming the package to install. */
  notFound: string;
  signal: AbortSignal;
}

/** Starts the program; ProviderError (not retryable) when it is not installed or cannot be started. */
export async function startChild(opts: StartOptions): Promise<RunningChild> {
  throwIfAborted(opts.signal);
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(opts.command, [...opts.args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = Buffer.alloc(0);
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]);
    if (stderr.length > STDERR_TAIL_BYTES) stderr = stderr.subarray(stderr.length - STDERR_TAIL_BYTES);
  });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('close', (code, signal) => resolve({ code, signal, stderr: stderr.toString('utf8') }));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message =
      code === 'ENOENT' ? opts.notFound : `${opts.command} could not be started: ${String(err)}`;
    throw new ProviderError(opts.vendor, message, { retryable: false, cause: err });
  }
  // A failure after a successful spawn (a kill that cannot be delivered) must not become an uncaught error.
  child.on('error', () => undefined);
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  opts.signal.addEventListener('abort', kill, { once: true });
  if (opts.signal.aborted) kill(); // aborted while we waited for the spawn
  let closing: Promise<void> | undefined;
  return {
    pid: child.pid ?? -1,
    stdout: child.stdout,
    exited,
    close() {
      closing ??= (async () => {
        kill();
        child.stdout.destroy();
        await exited;
        opts.signal.removeEventListener('abort', kill);
      })();
      return closing;
    },
  };
}

/** Reads the whole of stdout; the exit status is checked by the caller. */
export async function readAll(child: RunningChild): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of child.stdout) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** AbortedError if the signal fired, else ProviderError when the program did not exit with status 0. */
export function checkExit(vendor: string, command: string, exit: ChildExit, signal: AbortSignal): void {
  if (signal.aborted) throw new AbortedError(`${command} aborted`, { cause: signal.reason });
  if (exit.code === 0) return;
  const how =
    exit.code === null ? `was killed by ${exit.signal ?? 'a signal'}` : `exited with status ${exit.code}`;
  const why = exit.stderr.trim().split('\n').slice(-3).join(' | ');
  throw new ProviderError(vendor, `${command} ${how}${why === '' ? '' : `: ${why}`}`, { retryable: false });
}

/** True for the error `startChild` throws when the program is not installed (not on PATH). */
export function isNotInstalled(err: unknown): boolean {
  return err instanceof ProviderError && (err.cause as { code?: unknown } | undefined)?.code === 'ENOENT';
}
