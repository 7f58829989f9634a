/** Fault injection of the fake: dropped, garbled, oversized and stalled connections, and the auth timeout. */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { FakeFreeSwitch, FakeFreeSwitchOptions } from '../fakes/fake-freeswitch/index.js';
import { RawClient } from '../fakes/fake-freeswitch/replay.js';
import type { Frame } from '../fakes/fake-freeswitch/replay.js';
import { openSession } from '../fakes/fake-freeswitch/test-session.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeFs(opts: FakeFreeSwitchOptions = {}): Promise<FakeFreeSwitch> {
  const fake = await startFakeFreeSwitch(opts);
  cleanups.push(() => fake.stop());
  return fake;
}

async function authed(fake: FakeFreeSwitch): Promise<RawClient> {
  const sock = connect({ host: '127.0.0.1', port: fake.inboundPort });
  cleanups.push(() => void sock.destroy());
  const c = new RawClient(sock);
  await c.waitFrames(1);
  sock.write('auth ClueCon\n\n');
  await c.waitFrames(2);
  return c;
}

describe('fake FreeSWITCH faults', () => {
  it('dropInbound closes without a disconnect notice', async () => {
    const fake = await fakeFs();
    const c = await authed(fake);
    fake.faults.dropInbound();
    await c.waitFor(() => c.finished, 5000, 'close');
    expect(c.frames).toHaveLength(2);
    expect(fake.inboundConnections()).toBe(0);
  });

  it('sendGarbage writes raw bytes into the stream', async () => {
    const fake = await fakeFs();
    const c = await authed(fake);
    fake.faults.sendGarbage(Buffer.from('\x00\xffGarbage: x\n\n', 'latin1'));
    await c.waitFrames(3);
    expect((c.frames[2] as Frame).headers[0]?.[0]).toBe('\x00\ufffdGarbage');
  });

  it('sendOversized announces a huge Content-Length and streams until the client gives up', async () => {
    const fake = await fakeFs();
    const c = await authed(fake);
    let got = 0;
    let head = '';
    c.socket.on('data', (b: Buffer) => {
      if (head.length === 0) head = b.subarray(0, 60).toString('latin1');
      got += b.length;
      if (got > 1024 * 1024) c.socket.destroy();
    });
    fake.faults.sendOversized(64 * 1024 * 1024);
    await c.waitFor(() => c.finished, 10_000, 'client to give up');
    expect(head.startsWith('Content-Length: 67108864\nContent-Type: text/event-plain\n\n')).toBe(true);
    // The fake survives: a new connection still works.
    const d = await authed(fake);
    expect(d.frames).toHaveLength(2);
  });

  it('stallReads delays replies and events', async () => {
    const fake = await fakeFs();
    const c = await authed(fake);
    fake.faults.stallReads(300);
    const t0 = performance.now();
    c.socket.write('api status\n\n');
    await c.waitFrames(3);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(280);
    expect((c.frames[2] as Frame).body.toString()).toMatch(/^UP /);
  });

  it('closes connections that do not authenticate in time, with the plain disconnect notice', async () => {
    const fake = await fakeFs({ authTimeoutMs: 100 });
    const sock = connect({ host: '127.0.0.1', port: fake.inboundPort });
    cleanups.push(() => void sock.destroy());
    const c = new RawClient(sock);
    await c.waitFor(() => c.finished, 5000, 'close');
    expect(c.frames.map((f) => f.headers)).toEqual([
      [['Content-Type', 'auth/request']],
      [
        ['Content-Type', 'text/disconnect-notice'],
        ['Content-Length', '67'],
      ],
    ]);
  });

  it('a dropped outbound socket ends the socket app: the call hangs up, closed by FreeSWITCH', async () => {
    const fake = await fakeFs({ speed: 10 });
    const s = await openSession(fake, { answered: true });
    cleanups.push(() => s.close());
    s.call.faults.dropSocket();
    expect(await s.call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'freeswitch' });
  });
});
