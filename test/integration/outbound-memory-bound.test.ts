/*
 * Issue 9 item 3, the memory bound measured on the daemon's side: 150 local connections each announce an
 * almost-8 MiB frame (just under the parser's old limit) and trickle its bytes. Before the bounds the outbound
 * server buffered every one of them: RSS went from 63 MB to 1.28 GB, past the unit's MemoryMax=1G. The server
 * runs in a child process with the daemon's default limits, so its peak RSS (getrusage's high-water mark) is
 * its own; the ceiling is generous (baseline + 200 MB) and nothing here depends on timing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHILD = fileURLToPath(new URL('./outbound-memory-child.ts', import.meta.url));
const CONNECTIONS = 150;
const ANNOUNCED_BYTES = 8 * 1024 * 1024 - 4096;
const CHUNK = Buffer.alloc(64 * 1024, 0x61);
const MB = 1024 * 1024;

interface Ready {
  type: 'ready';
  port: number;
  rssBytes: number;
}
interface Report {
  type: 'report';
  peakRssBytes: number;
  rejected: Record<string, number>;
  sessions: number;
  bufferedBytes: number;
}

const children: ChildProcess[] = [];
const open: Socket[] = [];
afterAll(() => {
  for (const s of open) s.destroy();
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type']): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: T): void => {
      if (m.type !== type) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`child exited (${code})`)));
  });
}

/**
 * One junk peer: the header, then the body in 64 KiB writes as fast as the server reads them (backpressure,
 * so the bytes sit in the server, not in this process), never the last byte. Resolves with whether the
 * server closed it before it had sent everything.
 */
async function junkPeer(port: number): Promise<boolean> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  // Listeners, not events.once: that rejects on the ECONNRESET a rejected peer gets.
  const closed = new Promise<true>((resolve) => socket.once('close', () => resolve(true)));
  const event = (name: string): Promise<false> =>
    new Promise((resolve) => socket.once(name, () => resolve(false)));
  if (await Promise.race([event('connect'), closed])) return true;
  socket.write(`Content-Type: command/reply\nContent-Length: ${ANNOUNCED_BYTES}\n\n`);
  for (let sent = 0; sent + CHUNK.length < ANNOUNCED_BYTES && !socket.destroyed; sent += CHUNK.length) {
    if (!socket.write(CHUNK) && (await Promise.race([event('drain'), closed]))) return true;
  }
  if (socket.destroyed) return true;
  // Everything but the end of the frame was accepted: the server holds it (the unbounded case) until the
  // test ends, as the trickling peers of the incident did.
  open.push(socket);
  return false;
}

describe('outbound server memory bound (child process, real sockets)', () => {
  it('150 peers announcing ~8 MiB frames: peak RSS stays under baseline + 200 MB and every one is rejected and counted', async () => {
    const stderr: string[] = [];
    const child = fork(CHILD, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, VOICE_AI_ENV_FILE: '', VOICE_AI_OUTBOUND_PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    children.push(child);
    child.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
    const ready = await nextMessage<Ready>(child, 'ready');

    const closedByServer = await Promise.all(Array.from({ length: CONNECTIONS }, () => junkPeer(ready.port)));
    child.send({ type: 'report' });
    const report = await nextMessage<Report>(child, 'report');

    const growthMb = (report.peakRssBytes - ready.rssBytes) / MB;
    expect(growthMb, `peak RSS ${report.peakRssBytes / MB} MB from ${ready.rssBytes / MB} MB`).toBeLessThan(
      200,
    );
    expect(closedByServer.filter((c) => !c)).toEqual([]);
    const total = Object.values(report.rejected).reduce((a, b) => a + b, 0);
    expect(total).toBe(CONNECTIONS);
    // The first 128 (the default handshake cap) are always admitted, so they fail on their frame size.
    expect(report.rejected['frame_too_large']).toBeGreaterThanOrEqual(128);
    const others = Object.keys(report.rejected).filter(
      (r) => r !== 'frame_too_large' && r !== 'too_many_handshakes',
    );
    expect(others).toEqual([]);
    expect(report.sessions).toBe(0);
    expect(report.bufferedBytes).toBe(0);

    // 150 rejections, a handful of warn lines: one per reason per 10 s.
    const warns = stderr
      .join('')
      .split('\n')
      .filter((l) => l.includes('esl outbound connection rejected'));
    expect(warns.length).toBeGreaterThan(0);
    expect(warns.length).toBeLessThanOrEqual(2 * Object.keys(report.rejected).length);
    child.disconnect();
    await once(child, 'exit');
  }, 30_000);
});
