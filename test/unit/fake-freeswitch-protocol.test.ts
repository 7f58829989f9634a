/**
 * Protocol behaviour of the fake beyond the replays: reply texts, event-lock and nesting, hangup timing,
 * the socket's end (exit, daemon close, linger watchdog, connect failure), channel data, encodings,
 * inbound subscriptions and restart on the same port.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { FakeFreeSwitch, FakeFreeSwitchOptions } from '../fakes/fake-freeswitch/index.js';
import { jsonEntries, RawClient } from '../fakes/fake-freeswitch/replay.js';
import type { Frame } from '../fakes/fake-freeswitch/replay.js';
import { ev, execute, openSession } from '../fakes/fake-freeswitch/test-session.js';
import type { RawSession } from '../fakes/fake-freeswitch/test-session.js';

const PROMPT = join(import.meta.dirname, '../fixtures/audio/fake-fs-prompt-8k.wav');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeFs(opts: FakeFreeSwitchOptions = {}): Promise<FakeFreeSwitch> {
  const fake = await startFakeFreeSwitch({ speed: 10, ...opts });
  cleanups.push(() => fake.stop());
  return fake;
}

async function session(
  fake: FakeFreeSwitch,
  ...args: Parameters<typeof openSession> extends [unknown, ...infer R] ? R : never
): Promise<RawSession> {
  const s = await openSession(fake, ...args);
  cleanups.push(() => s.close());
  return s;
}

function reply(f: Frame): string {
  return f.headers.find(([n]) => n === 'Reply-Text')?.[1] ?? f.body.toString();
}

async function inbound(fake: FakeFreeSwitch, events?: string): Promise<RawClient> {
  const sock = connect({ host: '127.0.0.1', port: fake.inboundPort });
  cleanups.push(() => void sock.destroy());
  const c = new RawClient(sock);
  await c.waitFrames(1);
  sock.write('auth ClueCon\n\n');
  await c.waitFrames(2);
  if (events) {
    sock.write(`${events}\n\n`);
    await c.waitFrames(3);
  }
  return c;
}

describe('fake FreeSWITCH protocol', () => {
  it('replies like mod_event_socket: myevents twice, linger, nolinger, unknown commands, empty event', async () => {
    const fake = await fakeFs();
    const s = await session(fake, { answered: true }, []);
    expect(reply(await s.cmd('myevents json'))).toBe('+OK Events Enabled');
    expect(reply(await s.cmd('myevents'))).toBe('-ERR aready enabled.');
    expect(reply(await s.cmd('linger'))).toBe('+OK will linger');
    expect(reply(await s.cmd('linger 7'))).toBe('+OK will linger 7 seconds');
    expect(reply(await s.cmd('nolinger'))).toBe('+OK will not linger');
    expect(reply(await s.cmd('event'))).toBe('-ERR no keywords supplied');
    expect(reply(await s.cmd('nixevent DTMF'))).toBe('+OK events nixed');
    expect(reply(await s.cmd('frobnicate'))).toBe('-ERR command not found');
    expect(reply(await s.cmd('api nosuchcommand foo'))).toBe('-ERR nosuchcommand Command not found!\n');
    expect(reply(await s.cmd(`api uuid_getvar ${s.call.uuid} no_such_var`))).toBe('_undef_');
    expect(reply(await s.cmd('sendmsg 00000000-0000-4000-8000-000000000000\ncall-command: hangup'))).toBe(
      '-ERR invalid session id [00000000-0000-4000-8000-000000000000]',
    );
    expect(s.call.commands.slice(0, 3)).toEqual(['connect', 'myevents json', 'myevents']);
  });

  it('CHANNEL_DATA carries the domain, the caller and the dialplan variables; answer fires CHANNEL_ANSWER', async () => {
    const fake = await fakeFs();
    const s = await session(
      fake,
      {
        domainName: 'tenant.example.com',
        domainUuid: '11111111-2222-4333-8444-555555555555',
        destinationNumber: '1234',
        callerIdNumber: '+15557654321',
        readCodec: 'PCMU',
        variables: { voice_ai_secretary_uuid: 'sec-1' },
      },
      ['myevents'],
    );
    const data = s.client.frames[0] as Frame;
    const h = (n: string): string | undefined => data.headers.find(([k]) => k === n)?.[1];
    expect(h('Caller-Context')).toBe('tenant.example.com');
    expect(h('Caller-Destination-Number')).toBe('1234');
    expect(h('Caller-Caller-ID-Number')).toBe('%2B15557654321');
    expect(h('variable_domain_uuid')).toBe('11111111-2222-4333-8444-555555555555');
    expect(h('variable_voice_ai_secretary_uuid')).toBe('sec-1');
    expect(h('Channel-Read-Codec-Name')).toBe('PCMU');
    expect(h('Channel-Read-Codec-Rate')).toBe('8000');
    expect(h('Answer-State')).toBe('ringing');
    expect(data.headers.slice(-4).map(([k]) => k)).toEqual([
      'Content-Type',
      'Reply-Text',
      'Socket-Mode',
      'Control',
    ]);
    await s.cmd(execute('answer'));
    await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'answer' });
    const names = s.names();
    expect(names.slice(names.indexOf('CHANNEL_EXECUTE answer'))).toEqual([
      'CHANNEL_EXECUTE answer',
      'CHANNEL_ANSWER',
      'CHANNEL_EXECUTE_COMPLETE answer',
    ]);
  });

  it('URL-encodes raw Latin-1 caller names in plain (Jo%E3o) and sends the raw byte in JSON', async () => {
    const fake = await fakeFs();
    const name = Buffer.from('Jo\xe3o & Cia', 'latin1');
    const s = await session(fake, { answered: true, callerIdName: name }, ['myevents json']);
    expect((s.client.frames[0] as Frame).headers.find(([k]) => k === 'Caller-Caller-ID-Name')?.[1]).toBe(
      'Jo%E3o%20%26%20Cia',
    );
    await s.cmd(execute('answer'));
    await s.event('CHANNEL_EXECUTE', { Application: 'answer' });
    const frame = s.client.frames.find((f) => f.body.includes('CHANNEL_EXECUTE')) as Frame;
    expect(frame.body.includes(Buffer.from('"Caller-Caller-ID-Name":"Jo\xe3o & Cia"', 'latin1'))).toBe(true);
    expect(jsonEntries(frame.body.toString('latin1')).find(([k]) => k === 'Event-Name')?.[1]).toBe(
      'CHANNEL_EXECUTE',
    );
  });

  it('flags sendmsg without event-lock, and runs a message nested inside an unlocked blocking app', async () => {
    const fake = await fakeFs();
    const s = await session(fake, { answered: true });
    const from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT, { 'event-lock': '', 'Event-UUID': 'outer' }));
    await s.event('PLAYBACK_START', {}, from);
    await s.cmd(execute('set', 'x=1', { 'Event-UUID': 'inner' }));
    const inner = await s.event('CHANNEL_EXECUTE_COMPLETE', { 'Application-UUID': 'inner' }, from);
    const outer = await s.event('CHANNEL_EXECUTE_COMPLETE', { 'Application-UUID': 'outer' }, from);
    expect(s.client.frames.indexOf(inner)).toBeLessThan(s.client.frames.indexOf(outer));
    expect(s.call.violations).toEqual([
      'sendmsg execute playback without event-lock',
      'sendmsg set ran nested inside a running app sent without event-lock',
    ]);
  });

  it('a hangup sendmsg waits behind an event-locked playback (CF_EVENT_LOCK); uuid_kill does not', async () => {
    const fake = await fakeFs();
    const s = await session(fake, { answered: true });
    let from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT));
    await s.event('PLAYBACK_START', {}, from);
    await s.cmd('sendmsg\ncall-command: hangup\nhangup-cause: USER_BUSY');
    const hangup = await s.event('CHANNEL_HANGUP', {}, from);
    const stop = await s.event('PLAYBACK_STOP', {}, from);
    expect(ev(stop, 'Playback-Status')).toBe('done');
    expect(s.client.frames.indexOf(stop)).toBeLessThan(s.client.frames.indexOf(hangup));
    expect(await s.call.ended).toMatchObject({ hangupCause: 'USER_BUSY', socketClosedBy: 'freeswitch' });

    const t = await session(fake, { answered: true });
    const c = await inbound(fake);
    from = t.client.frames.length;
    await t.cmd(execute('playback', PROMPT));
    await t.event('PLAYBACK_START', {}, from);
    c.socket.write(`api uuid_kill ${t.call.uuid} CALL_REJECTED\n\n`);
    const kill = await t.event('CHANNEL_HANGUP', {}, from);
    expect(ev(kill, 'Hangup-Cause')).toBe('CALL_REJECTED');
    expect(
      ev(
        await t.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' }, from),
        'Application-Response',
      ),
    ).toBe('PLAYBACK ERROR');
  });

  it('exit: +OK bye, the session disconnect notice, close; the dialplan then hangs up', async () => {
    const fake = await fakeFs();
    const c = await inbound(fake, 'event plain CHANNEL_HANGUP_COMPLETE');
    const s = await session(fake, { answered: true });
    s.client.socket.write('exit\n\n');
    await s.client.waitFor(() => s.client.finished, 5000, 'close');
    const last = s.client.frames.slice(-2);
    expect(reply(last[0] as Frame)).toBe('+OK bye');
    expect((last[1] as Frame).headers).toEqual([
      ['Content-Type', 'text/disconnect-notice'],
      ['Controlled-Session-UUID', s.call.uuid],
      ['Content-Disposition', 'disconnect'],
      ['Content-Length', '67'],
    ]);
    expect(await s.call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
    await c.waitFor(
      () => c.frames.some((f) => f.body.includes('CHANNEL_HANGUP_COMPLETE')),
      5000,
      'HANGUP_COMPLETE inbound',
    );
  });

  it('the daemon closing mid-call: queued apps still run, then the socket app returns and the call hangs up', async () => {
    const fake = await fakeFs();
    const c = await inbound(fake, 'event plain CHANNEL_EXECUTE_COMPLETE CHANNEL_HANGUP_COMPLETE');
    const s = await session(fake, { answered: true });
    await s.cmd(execute('playback', PROMPT, { 'Event-UUID': 'still-played' }));
    s.client.socket.end();
    expect(await s.call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'daemon' });
    expect(s.call.executed.map((e) => `${e.applicationUuid}:${e.response}`)).toEqual([
      'still-played:FILE PLAYED',
    ]);
    await c.waitFor(() => c.frames.some((f) => f.body.includes('HANGUP_COMPLETE')), 5000, 'HANGUP_COMPLETE');
    expect(c.frames.some((f) => f.body.includes('Application: socket'))).toBe(true);
  });

  it('linger forever: the fake closes after daemonCloseWithinMs and records a violation', async () => {
    const fake = await fakeFs();
    const s = await session(fake, { answered: true, linger: { daemonCloseWithinMs: 100 } }, [
      'linger',
      'myevents',
    ]);
    s.call.hangup('NORMAL_CLEARING');
    await s.client.waitFor(() => s.client.finished, 5000, 'close');
    const kinds = s.client.frames
      .slice(-2)
      .map((f) => f.headers.find(([n]) => n === 'Content-Disposition')?.[1]);
    expect(kinds).toEqual(['linger', 'disconnect']);
    expect(s.call.violations).toEqual(['daemon did not close the lingering socket within 100 ms']);
    expect(await s.call.ended).toEqual({ hangupCause: 'NORMAL_CLEARING', socketClosedBy: 'freeswitch' });
  });

  it('transfer: the socket app ends, the target extension runs, ended names the destination', async () => {
    const fake = await fakeFs();
    const s = await session(fake, { answered: true, afterTransfer: { playMs: 200 } });
    await s.cmd(execute('transfer', '1001 XML tenant.example.com'));
    expect(await s.call.ended).toEqual({
      hangupCause: 'NORMAL_CLEARING',
      socketClosedBy: 'freeswitch',
      transferredTo: '1001',
      transferredContext: 'tenant.example.com',
    });
    await s.client.waitFor(() => s.client.finished, 5000, 'close');
    const states = s.client.frames
      .filter((f) => ev(f, 'Event-Name') === 'CHANNEL_STATE')
      .map((f) => ev(f, 'Channel-State'));
    expect(states).toEqual(['CS_ROUTING', 'CS_EXECUTE', 'CS_HANGUP', 'CS_REPORTING']);
    expect(
      ev(
        s.client.frames.find((f) => ev(f, 'Event-Name') === 'CHANNEL_HANGUP_COMPLETE') as Frame,
        'Caller-Destination-Number',
      ),
    ).toBe('1001');
  });

  it('a daemon that is not listening: the dialplan continues after socket', async () => {
    const fake = await fakeFs();
    const call = fake.placeCall({ target: { host: '127.0.0.1', port: 1 } });
    expect(await call.ended).toEqual({
      hangupCause: 'NORMAL_CLEARING',
      socketClosedBy: 'freeswitch',
      connectFailed: true,
    });
  });

  it('inbound: emitEvent reaches subscribed connections; filters; noevents', async () => {
    const fake = await fakeFs();
    const c = await inbound(fake, 'event json CUSTOM voice_ai::note');
    const d = await inbound(fake, 'event plain ALL');
    d.socket.write('filter Event-Subclass voice_ai::other\n\n');
    await d.waitFrames(4);
    fake.emitEvent({ 'Event-Subclass': 'voice_ai::note', 'X-Note': 'a b' }, 'hello');
    await c.waitFrames(4);
    const got = jsonEntries((c.frames[3] as Frame).body.toString());
    expect(got.slice(0, 2)).toEqual([
      ['Event-Subclass', 'voice_ai::note'],
      ['Event-Name', 'CUSTOM'],
    ]);
    expect(got.slice(-3)).toEqual([
      ['X-Note', 'a b'],
      ['Content-Length', '5'],
      ['_body', 'hello'],
    ]);
    fake.emitEvent({ 'Event-Subclass': 'voice_ai::other' });
    await d.waitFrames(5);
    expect(d.frames.filter((f) => f.body.includes('voice_ai')).length).toBe(1);
    c.socket.write('noevents\n\n');
    await c.waitFrames(5);
    expect(reply(c.frames[4] as Frame)).toBe('+OK no longer listening for events');
    expect(fake.inboundConnections()).toBe(2);
  });

  it('stop() says goodbye and ends calls; a new fake can take over the same port', async () => {
    const fake = await startFakeFreeSwitch({ speed: 10 });
    const port = fake.inboundPort;
    const c = await inbound(fake);
    const s = await session(fake, { answered: true });
    await fake.stop();
    await c.waitFor(() => c.finished, 5000, 'inbound closed');
    expect((c.frames.at(-1) as Frame).body.toString()).toBe('The system is being shut down.\n');
    expect(await s.call.ended).toEqual({ hangupCause: 'SYSTEM_SHUTDOWN', socketClosedBy: 'freeswitch' });
    const again = await fakeFs({ port });
    expect(again.inboundPort).toBe(port);
    const c2 = await inbound(again);
    expect(c2.frames).toHaveLength(2);
  });
});
