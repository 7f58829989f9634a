import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('voice-ai never limps on', () => {
  it('an unhandled rejection is logged as fatal and the process exits 1 (systemd restarts it)', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        '--import',
        './test/e2e/ops-unhandled-reject-preload.mjs',
        'src/cli/main.ts',
        'help',
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    const fatal = stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string; err: string });
    expect(fatal).toEqual([
      expect.objectContaining({
        level: 60,
        msg: 'unhandled rejection',
        err: expect.stringContaining('boom from a forgotten promise') as string,
      }),
    ]);
  });
});
