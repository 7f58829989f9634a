import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CallHangupError } from '../../src/core/errors.js';
import { createOutboundServer, type OutboundServer } from '../../src/esl/outbound.js';
import type { OutboundSession } from '../../src/esl/outbound-session.js';
import { autoPeer, memoryLogger, silentLog } from './esl-support.js';

const servers: OutboundServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.destroy();
});

/** A server whose sessions are handed to the test and stay open until the test releases them. */
async function holdingServer(): Promise<{
  server: OutboundServer;
  next: () => Promise<OutboundSession>;
  release: () => void;
}> {
  const queue: OutboundSession[] = [];
  let waiting: ((s: OutboundSession) => void) | undefined;
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  const server = await createOutboundServer({
    port: 0,
    log: silentLog,
    onSession: async (s) => {
      if (waiting) waiting(s);
      else queue.push(s);
      waiting = undefined;
      await Promise.race([held, once(s.hangupSignal, 'abort')]);
    },
  });
  servers.push(server);
  const next = (): Promise<OutboundSession> => {
    const s = queue.shift();
    return s ? Promise.resolve(s) : new Promise((resolve) => (waiting = resolve));
  };
  return { server, next, release };
}

describe('outbound server and session commands', () => {
  it('sends a multi-line app arg as a text/plain body, and subscribe puts CUSTOM last', async () => {
    const { server, next, release } = await holdingServer();
    const peer = autoPeer(server.port);
    const s = await next();
    const r = await s.execute('set', 'a=1\nb=2');
    expect(r.response).toBe('FILE PLAYED');
    await s.subscribe(['CUSTOM', 'mod_audio_stream::play', 'PLAYBACK_STOP']);
    await s.linger(30);
    await expect(s.linger(0)).rejects.toMatchObject({ code: 'E_INVALID_INPUT' });
    await expect(s.execute('bad app')).rejects.toMatchObject({ code: 'E_INVALID_INPUT' });
    const [, , exec, sub, linger] = peer.commands;
    expect(exec).toMatch(
      /^sendmsg\ncall-command: execute\nexecute-app-name: set\nevent-lock: true\nEvent-UUID: [0-9a-f-]{36}\ncontent-type: text\/plain\nContent-Length: 7\n\na=1\nb=2$/,
    );
    expect(sub).toBe('event plain PLAYBACK_STOP CUSTOM mod_audio_stream::play\n\n');
    expect(linger).toBe('linger 30\n\n');
    release();
    await peer.closed;
  });

  it('aborting an execute rejects it at once and keeps later replies in order', async () => {
    const { server, next, release } = await holdingServer();
    const peer = autoPeer(server.port);
    const s = await next();
    const ac = new AbortController();
    const aborted = s.execute('playback', '/tmp/x.wav', { signal: ac.signal });
    ac.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'E_ABORTED' });
    expect((await s.execute('answer')).application).toBe('answer');
    expect(await s.api('uuid_getvar x y')).toBe('+OK\n');
    expect(s.pendingCount()).toBe(0);
    release();
    await peer.closed;
  });

  it('hangup() aborts hangupSignal with the cause and later executes reject with CallHangupError', async () => {
    const { server, next } = await holdingServer();
    const peer = autoPeer(server.port);
    const s = await next();
    const causes: (string | undefined)[] = [];
    s.on('hangup', (c) => causes.push(c));
    await s.hangup('USER_BUSY');
    expect(s.hangupSignal.aborted).toBe(true);
    expect(s.hangupCause).toBe('USER_BUSY');
    expect(causes).toEqual(['USER_BUSY']);
    await expect(s.execute('answer')).rejects.toBeInstanceOf(CallHangupError);
    await s.hangup();
    await peer.closed;
    await s.close();
    expect(s.closed).toBe(true);
  });

  it('close() stops accepting and resolves when the open sessions end; destroy() ends them now', async () => {
    const { server, next } = await holdingServer();
    const peer = autoPeer(server.port);
    const s = await next();
    let closed = false;
    const closing = server.close().then(() => (closed = true));
    const refused = connect({ port: server.port, host: '127.0.0.1' });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    expect(closed).toBe(false);
    expect(server.sessions).toBe(1);
    server.destroy();
    await closing;
    await peer.closed;
    expect(s.hangupSignal.aborted).toBe(true);
    expect(server.sessions).toBe(0);
  });

  it('logs a session whose listener throws, and keeps delivering', async () => {
    const { log, lines } = memoryLogger();
    let seen = 0;
    const server = await createOutboundServer({
      port: 0,
      log,
      onSession: async (s) => {
        s.on('event', () => {
          throw new Error('listener bug');
        });
        s.on('event', () => seen++);
        await s.execute('answer');
        await s.execute('answer');
      },
    });
    servers.push(server);
    await autoPeer(server.port).closed;
    expect(lines.filter((l) => l.msg === 'outbound session listener threw')).toHaveLength(2);
    expect(seen).toBe(0);
  });
});
