import type { Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EslCommandError } from '../../src/core/errors.js';
import type { EslEvent } from '../../src/esl/event.js';
import {
  createInboundConnection,
  type InboundConnection,
  type InboundOptions,
  type InboundState,
  INBOUND_BACKOFF,
  reconnectDelayMs,
} from '../../src/esl/inbound.js';
import {
  apiResponse,
  CommandReader,
  listen,
  type LogLine,
  memoryLogger,
  plainEvent,
  reply,
  silentLog,
} from './esl-support.js';

const DISCONNECT = 'Content-Type: text/disconnect-notice\nContent-Length: 23\n\nDisconnected, goodbye.\n';

/** A small FreeSWITCH for port 8021: auth, event, api, bgapi + BACKGROUND_JOB; `api hang` never answers. */
class FakeInboundFs {
  server: Server | undefined;
  port = 0;
  readonly sockets = new Set<Socket>();
  readonly commands: string[] = [];
  readonly attemptsAt: number[] = [];
  private waiters: (() => void)[] = [];

  /** Resolves once `pred` holds, re-checked at every connection and command. */
  async until(pred: () => boolean): Promise<void> {
    while (!pred()) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async start(port = 0): Promise<void> {
    const l = await listen((s) => this.onSocket(s), port);
    this.server = l.server;
    this.port = l.port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  broadcast(data: string): void {
    for (const s of this.sockets) s.write(data);
  }

  private onSocket(socket: Socket): void {
    this.attemptsAt.push(performance.now());
    this.notify();
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    const reader = new CommandReader(socket);
    socket.write('Content-Type: auth/request\n\n');
    void (async () => {
      while (!socket.destroyed) {
        const cmd = await reader.next();
        this.commands.push(cmd);
        this.notify();
        if (cmd.startsWith('auth ')) {
          if (cmd === 'auth ClueCon\n\n') socket.write(reply('+OK accepted'));
          else socket.end(reply('-ERR invalid') + DISCONNECT);
        } else if (cmd.startsWith('event ')) socket.write(reply('+OK event listener enabled plain'));
        else if (cmd === 'api status\n\n') socket.write(apiResponse('UP 0 years\n'));
        else if (cmd.startsWith('api nosuch')) socket.write(apiResponse('-ERR nosuch Command not found!\n'));
        else if (cmd.startsWith('bgapi ')) {
          const uuid = /Job-UUID: (\S+)/.exec(cmd)?.[1] ?? 'none';
          socket.write(
            `Content-Type: command/reply\nReply-Text: +OK Job-UUID: ${uuid}\nJob-UUID: ${uuid}\n\n`,
          );
          socket.write(
            plainEvent(
              { 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': uuid, 'Job-Command': 'originate' },
              '+OK a-leg\n',
            ),
          );
        } else if (cmd !== 'api hang\n\n') socket.write(reply('-ERR command not found'));
      }
    })();
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Polls a condition the client reaches on its own timers (log lines have no event to wait on). */
async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 5));
}

async function fake(): Promise<FakeInboundFs> {
  const fs = new FakeInboundFs();
  await fs.start();
  cleanups.push(() => fs.stop());
  return fs;
}

function client(port: number, options: Partial<InboundOptions> = {}): InboundConnection {
  const c = createInboundConnection({
    port,
    password: 'ClueCon',
    log: silentLog,
    events: ['CHANNEL_PARK', 'CUSTOM', 'mod_audio_stream::play', 'DTMF'],
    backoff: { baseMs: 5, capMs: 20 },
    ...options,
  });
  cleanups.push(() => c.close());
  return c;
}

function nextState(c: InboundConnection, want: InboundState): Promise<void> {
  return new Promise((resolve) => {
    const on = (s: InboundState): void => {
      if (s !== want) return;
      c.off('state', on);
      resolve();
    };
    c.on('state', on);
  });
}

describe('inbound connection', () => {
  it('authenticates, subscribes (CUSTOM last, BACKGROUND_JOB added), runs api and bgapi, delivers events', async () => {
    const fs = await fake();
    const c = client(fs.port);
    await c.start();
    expect(c.connected).toBe(true);
    expect(fs.commands.slice(0, 2)).toEqual([
      'auth ClueCon\n\n',
      'event plain CHANNEL_PARK DTMF BACKGROUND_JOB CUSTOM mod_audio_stream::play\n\n',
    ]);
    expect(await c.api('status')).toBe('UP 0 years\n');
    const err = await c.api('nosuch foo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EslCommandError);
    expect(err).toMatchObject({ code: 'E_ESL_COMMAND', reply: '-ERR nosuch Command not found!\n' });
    expect(await c.bgapi('originate', 'loopback/8000 &park')).toBe('+OK a-leg\n');
    expect(fs.commands.at(-1)).toMatch(/^bgapi originate loopback\/8000 &park\nJob-UUID: [0-9a-f-]{36}\n\n$/);
    const got = new Promise<EslEvent>((resolve) => c.once('event', resolve));
    fs.broadcast(plainEvent({ 'Event-Name': 'DTMF', 'DTMF-Digit': '7', 'Unique-ID': 'u1' }));
    expect(await got).toMatchObject({ name: 'DTMF', digit: '7', uniqueId: 'u1' });
    expect(c.pendingCount()).toBe(0);
  });

  it('fails pending commands with E_ESL_CLOSED when FreeSWITCH goes away, then reconnects and re-subscribes', async () => {
    const fs = await fake();
    const c = client(fs.port);
    await c.start();
    const pending = c.api('hang');
    await fs.until(() => fs.commands.at(-1) === 'api hang\n\n');
    const down = nextState(c, 'disconnected');
    await fs.stop();
    await expect(pending).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    await down;
    expect(c.connected).toBe(false);
    await expect(c.api('status')).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    const up = nextState(c, 'connected');
    await fs.start(fs.port);
    await up;
    expect(c.reconnects).toBe(1);
    expect(fs.commands.filter((x) => x.startsWith('event plain')).length).toBe(2);
    expect(await c.api('status')).toBe('UP 0 years\n');
  });

  it('logs a refused password as E_ESL_AUTH and retries with growing delays, not in a loop', async () => {
    const fs = await fake();
    const { log, lines } = memoryLogger();
    const c = client(fs.port, {
      password: 'Wrong',
      log,
      backoff: { baseMs: 40, capMs: 1000 },
      random: () => 0.99,
    });
    const started = c.start();
    await fs.until(() => fs.attemptsAt.length >= 4);
    const gaps = fs.attemptsAt.slice(1).map((t, i) => t - (fs.attemptsAt[i] ?? 0));
    // backoff ceilings 40, 80, 160 ms (x0.99): timers never fire early.
    expect(gaps[0]).toBeGreaterThanOrEqual(38);
    expect(gaps[1]).toBeGreaterThanOrEqual(78);
    expect(gaps[2]).toBeGreaterThanOrEqual(157);
    expect(
      lines.filter((l) => l.msg === 'esl inbound auth failed' && l.code === 'E_ESL_AUTH').length,
    ).toBeGreaterThanOrEqual(3);
    expect(c.connected).toBe(false);
    await c.close();
    await expect(started).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    await c.close();
  });

  it('reconnects a same-host control link within a second of the switch returning, never faster than 100 ms', () => {
    // issue 9 item 13: the old 500 ms -> 30 s schedule left the link down 5.3 s after FreeSWITCH was back.
    for (let attempt = 0; attempt < 40; attempt++) {
      for (const r of [0, 0.5, 0.999]) {
        const waitMs = reconnectDelayMs(attempt, INBOUND_BACKOFF, () => r);
        expect(waitMs).toBeGreaterThanOrEqual(100);
        expect(waitMs).toBeLessThan(1000);
      }
    }
    expect(reconnectDelayMs(5, INBOUND_BACKOFF, () => 0)).toBe(500);
  });

  it('warns once per outage, not once per failed attempt, and reports the outage when it is back', async () => {
    const fs = await fake();
    const { log, lines } = memoryLogger();
    const c = client(fs.port, { log });
    await c.start();
    const down = nextState(c, 'disconnected');
    await fs.stop();
    await down;
    const failed = (): LogLine[] => lines.filter((l) => l.msg === 'esl inbound connect failed');
    await until(() => failed().length >= 4);
    const up = nextState(c, 'connected');
    await fs.start(fs.port);
    await up;
    const warned = lines.filter((l) => l.level === 40).map((l) => l.msg);
    expect(warned).toEqual(['esl inbound disconnected']);
    expect(failed().every((l) => l.level === 20)).toBe(true);
    const back = lines.filter((l) => l.msg === 'esl inbound connected').at(-1);
    expect(back?.attempts).toBeGreaterThanOrEqual(4);
    expect(typeof back?.downMs).toBe('number');
    // A second outage warns again.
    const down2 = nextState(c, 'disconnected');
    await fs.stop();
    await down2;
    expect(lines.filter((l) => l.level === 40).length).toBe(2);
  });
});
