/** Runs the real `voice-ai` executable (src/cli/main.ts) as a child process against the test database. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { cliEnv } from './cli-support.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Raw bytes: what a terminal would receive. */
  stdout: Buffer;
  stderr: string;
}

/** Starts `voice-ai <args>` with only the CLI's environment (plus PATH): nothing leaks in from the runner. */
export function spawnCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = cliEnv(),
): ChildProcessWithoutNullStreams {
  // node itself rather than `npx tsx`, so the exit status is the CLI's own.
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Runs `voice-ai <args>` to its end and collects what it wrote. */
export async function runCliProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = cliEnv(),
): Promise<ProcessResult> {
  const child = spawnCli(args, env);
  child.stdin.end();
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code, signal, stdout: Buffer.concat(out), stderr };
}
