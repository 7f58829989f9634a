/** Runs the `voice-ai` CLI in-process against the test database and captures what it prints. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { cli } from '../../src/cli/cli.js';
import { freePort } from '../../src/store/embedded.js';

export const CLI_KEY = 'cli-test-key-0123456789abcdef';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment of a CLI run: the shared test database and an encryption key. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: inject('databaseUrl'),
    VOICE_AI_ENCRYPTION_KEY: CLI_KEY,
    VOICE_AI_LOG_LEVEL: 'warn',
    ...extra,
  };
}

export async function runCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await cli(args, env, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
  });
  return { code, stdout, stderr };
}

/** The uuid an `add` printed (the last uuid on its line). */
export function uuidIn(text: string): string {
  const all = text.match(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g) ?? [];
  const last = all[all.length - 1];
  if (last === undefined) throw new Error(`no uuid in ${JSON.stringify(text)}`);
  return last;
}

/** A TCP port nothing listens on (bound, then released). */
export async function deadPort(): Promise<number> {
  return freePort();
}

export { dropScratch, migratedScratch } from '../helpers/db.js';

/** One `providers add` through the CLI, for tests that need a provider row as setup; its uuid. */
export async function addProviderViaCli(
  domain: string,
  p: {
    type: string;
    name: string;
    config?: string | Record<string, unknown>;
    /** `api_key=...` and the like. */
    secret?: string;
    /** More flags: --default, --disabled, --priority N. */
    flags?: readonly string[];
  },
  env: NodeJS.ProcessEnv = cliEnv(),
): Promise<string> {
  const args = ['providers', 'add', '--domain', domain, '--type', p.type, '--name', p.name];
  if (p.config !== undefined) {
    args.push('--config', typeof p.config === 'string' ? p.config : JSON.stringify(p.config));
  }
  let dir: string | undefined;
  if (p.secret !== undefined) {
    // The documented way: a file only its owner can read, so no warning and nothing on argv.
    dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-secret-'));
    const file = path.join(dir, 'secrets');
    await writeFile(file, `${p.secret}\n`, { mode: 0o600 });
    args.push('--secret-file', file);
  }
  const r = await runCli([...args, ...(p.flags ?? [])], env).finally(
    () => dir && rm(dir, { recursive: true, force: true }),
  );
  if (r.code !== 0 || r.stderr !== '') {
    throw new Error(`providers add failed (${r.code}): ${r.stderr || r.stdout}`);
  }
  return uuidIn(r.stdout);
}
