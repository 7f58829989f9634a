/**
 * `voice-ai run` whose port is taken must exit non-zero with one clear line (issue 9 item 1): before, it logged
 * EADDRINUSE and stayed up half-started, so systemd's Restart=on-failure never fired.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A port held by someone else, as when a second daemon or another service already has it. */
async function takenPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string[];
  stderr: string[];
}

async function run(env: Record<string, string>): Promise<Exit> {
  const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-startup-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      DATABASE_URL: inject('databaseUrl'),
      VOICE_AI_ENCRYPTION_KEY: 'startup-test-key-5d1e8a0c3f7b9264',
      // Nothing listens there: the inbound link retrying in the background must not keep a failed start alive.
      VOICE_AI_ESL_PORT: '1',
      VOICE_AI_AUDIO_DIR: path.join(dir, 'audio'),
      VOICE_AI_SPOOL_DIR: path.join(dir, 'spool'),
      VOICE_AI_OUTBOUND_PORT: '0',
      VOICE_AI_HTTP_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (c, s) => resolve([c, s])),
  );
  const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
  return { code, signal, stdout: lines(out), stderr: lines(err) };
}

describe('voice-ai run with a port already taken', () => {
  it('exits 1 with one line naming the outbound port when the call port is taken', async () => {
    const port = await takenPort();
    const exit = await run({ VOICE_AI_OUTBOUND_PORT: String(port) });
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(1);
    expect(exit.stderr).toHaveLength(1);
    expect(exit.stderr[0]).toMatch(
      new RegExp(
        `^voice-ai run: start-up failed at outbound ESL server on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`,
      ),
    );
    expect(exit.stdout.some((l) => l.includes('"voice-ai started"'))).toBe(false);
  });

  it('exits 1 when the HTTP port is taken, after closing the call port it had already opened', async () => {
    const port = await takenPort();
    const exit = await run({ VOICE_AI_HTTP_PORT: String(port) });
    expect(exit.signal).toBeNull();
    expect(exit.code).toBe(1);
    expect(exit.stderr).toHaveLength(1);
    expect(exit.stderr[0]).toMatch(
      new RegExp(`^voice-ai run: start-up failed at HTTP server on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
    );
    // The call port was listening before the HTTP step failed; it was released, not left to the exit.
    expect(exit.stdout.some((l) => l.includes('"esl outbound server listening"'))).toBe(true);
    expect(exit.stdout.some((l) => l.includes('"release after failed start-up failed"'))).toBe(false);
  });
});
