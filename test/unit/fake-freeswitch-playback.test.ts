/**
 * The fake's `playback` and the ways it ends: the file's real length (scaled by speed), a missing file,
 * terminator DTMF, uuid_break (with and without `all`), the caller hanging up, `{k=v}` file parameters.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import type { CallerStep, FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { RawClient } from '../fakes/fake-freeswitch/replay.js';
import { ev, execute, openSession } from '../fakes/fake-freeswitch/test-session.js';
import type { RawSession } from '../fakes/fake-freeswitch/test-session.js';

const PROMPT = join(import.meta.dirname, '../fixtures/audio/fake-fs-prompt-8k.wav');
const SALES = join(import.meta.dirname, '../fixtures/audio/fake-fs-sales-8k.wav');
const SPEED = 10;

let fake: FakeFreeSwitch;
const sessions: RawSession[] = [];
beforeEach(async () => {
  fake = await startFakeFreeSwitch({ speed: SPEED });
});
afterEach(async () => {
  for (const s of sessions.splice(0)) await s.close();
  await fake.stop();
});

async function session(script: CallerStep[] = []): Promise<RawSession> {
  const s = await openSession(fake, { answered: true, script });
  sessions.push(s);
  return s;
}

async function inbound(): Promise<RawClient> {
  const sock = connect({ host: '127.0.0.1', port: fake.inboundPort });
  const c = new RawClient(sock);
  await c.waitFrames(1);
  sock.write('auth ClueCon\n\n');
  await c.waitFrames(2);
  return c;
}

async function api(c: RawClient, line: string): Promise<string> {
  const n = c.frames.length;
  c.socket.write(`api ${line}\n\n`);
  await c.waitFrames(n + 1);
  return (c.frames[n] as { body: Buffer }).body.toString();
}

describe('fake FreeSWITCH playback', () => {
  it("plays for the file's length / speed and reports FILE PLAYED with the playback_* variables", async () => {
    const s = await session();
    const from = s.client.frames.length;
    const t0 = performance.now();
    await s.cmd(execute('playback', PROMPT, { 'Event-UUID': 'my-uuid-1' }));
    const stop = await s.event('PLAYBACK_STOP', {}, from);
    const done = await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' }, from);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThan(3022 / SPEED - 5);
    expect(ms).toBeLessThan(3022 / SPEED + 1500);
    expect(ev(stop, 'Playback-Status')).toBe('done');
    expect(ev(stop, 'Playback-File-Path')).toBe(PROMPT);
    expect(ev(done, 'Application-UUID')).toBe('my-uuid-1');
    expect(ev(done, 'Application-Response')).toBe('FILE PLAYED');
    expect(ev(done, 'variable_playback_samples')).toBe('24178');
    expect(ev(done, 'variable_playback_ms')).toBe('3022');
    expect(s.call.executed.at(-1)).toMatchObject({
      app: 'playback',
      response: 'FILE PLAYED',
      applicationUuid: 'my-uuid-1',
    });
  });

  it('a missing file: FILE NOT FOUND and no PLAYBACK_START', async () => {
    const s = await session();
    const from = s.client.frames.length;
    await s.cmd(execute('playback', '/nonexistent/nothing.wav'));
    const done = await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' }, from);
    expect(ev(done, 'Application-Response')).toBe('FILE NOT FOUND');
    expect(s.names()).not.toContain('PLAYBACK_START');
  });

  it('DTMF during playback: the default terminator * breaks it, other digits only fire DTMF', async () => {
    const s = await session([
      { type: 'dtmf', digit: '5', when: 'during_playback', atMs: 300 },
      { type: 'dtmf', digit: '*', when: 'during_playback', atMs: 1000 },
    ]);
    const from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT));
    const stop = await s.event('PLAYBACK_STOP', {}, from);
    const done = await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' }, from);
    expect(ev(stop, 'Playback-Status')).toBe('break');
    expect(ev(done, 'Application-Response')).toBe('FILE PLAYED');
    expect(ev(done, 'variable_playback_terminator_used')).toBe('*');
    expect(s.names().filter((n) => n === 'DTMF')).toHaveLength(2);
    expect(Number(ev(done, 'variable_playback_ms'))).toBeLessThan(3022);
  });

  it('playback_terminators=any lets any digit break; none lets none', async () => {
    const s = await session([{ type: 'dtmf', digit: '7', when: 'during_playback', atMs: 200 }]);
    await s.cmd(execute('set', 'playback_terminators=any'));
    const from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT));
    const done = await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' }, from);
    expect(ev(done, 'variable_playback_terminator_used')).toBe('7');

    const t = await session([{ type: 'dtmf', digit: '*', when: 'during_playback', atMs: 200 }]);
    await t.cmd(execute('set', 'playback_terminators=none'));
    const from2 = t.client.frames.length;
    await t.cmd(execute('playback', PROMPT));
    expect(ev(await t.event('PLAYBACK_STOP', {}, from2), 'Playback-Status')).toBe('done');
  });

  it('uuid_break stops the current playback only; uuid_break all also drops the queued ones', async () => {
    const s = await session();
    const c = await inbound();
    let from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT));
    await s.cmd(execute('playback', PROMPT, { 'Event-UUID': 'second' }));
    await s.event('PLAYBACK_START', {}, from);
    expect(await api(c, `uuid_break ${s.call.uuid}`)).toBe('+OK\n');
    expect(ev(await s.event('PLAYBACK_STOP', {}, from), 'Playback-Status')).toBe('break');
    await s.event('CHANNEL_EXECUTE', { 'Application-UUID': 'second' }, from);

    from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT, { 'Event-UUID': 'queued' }));
    await s.event('PLAYBACK_START', {}, from);
    await s.cmd(execute('playback', PROMPT, { 'Event-UUID': 'dropped' }));
    expect(await api(c, `uuid_break ${s.call.uuid} all`)).toBe('+OK\n');
    await s.event('CHANNEL_EXECUTE_COMPLETE', { 'Application-UUID': 'queued' }, from);
    // Had 'dropped' survived, it would run before this one.
    await s.cmd(execute('playback', '/nonexistent/after.wav', { 'Event-UUID': 'after' }));
    await s.event('CHANNEL_EXECUTE_COMPLETE', { 'Application-UUID': 'after' }, from);
    expect(s.call.executed.map((e) => e.applicationUuid)).not.toContain('dropped');
    c.socket.destroy();
  });

  it('the caller hangs up during playback: CHANNEL_HANGUP, PLAYBACK_STOP, then EXECUTE_COMPLETE with PLAYBACK ERROR', async () => {
    const s = await session([{ type: 'hangup', when: 'during_playback', atMs: 500 }]);
    const from = s.client.frames.length;
    await s.cmd(execute('playback', PROMPT));
    await s.cmd(execute('playback', PROMPT, { 'Event-UUID': 'never' }));
    const done = await s.event('CHANNEL_EXECUTE_COMPLETE', { Application: 'playback' }, from);
    expect(ev(done, 'Application-Response')).toBe('PLAYBACK ERROR');
    expect(ev(done, 'Answer-State')).toBe('hangup');
    const names = s.names();
    const h = names.indexOf('CHANNEL_HANGUP');
    expect(names.slice(h, h + 3)).toEqual([
      'CHANNEL_HANGUP',
      'PLAYBACK_STOP',
      'CHANNEL_EXECUTE_COMPLETE playback',
    ]);
    await s.call.ended;
    expect(s.call.executed.map((e) => e.applicationUuid)).not.toContain('never');
  });

  it('{k=v} prefixes are copied into PLAYBACK_START and PLAYBACK_STOP', async () => {
    const s = await session();
    const from = s.client.frames.length;
    await s.cmd(execute('playback', `{turn=4,voice_ai_part=2}${SALES}`));
    for (const name of ['PLAYBACK_START', 'PLAYBACK_STOP']) {
      const f = await s.event(name, {}, from);
      expect(ev(f, 'turn')).toBe('4');
      expect(ev(f, 'voice_ai_part')).toBe('2');
      expect(ev(f, 'Playback-File-Path')).toBe(`{turn=4,voice_ai_part=2}${SALES}`);
    }
  });
});
