import { afterEach, describe, expect, it } from 'vitest';
import { AbortedError, EslCommandError, EslError } from '../../src/core/errors.js';
import { EslConnection, subscribeCommand } from '../../src/esl/connection.js';
import type { EslEvent } from '../../src/esl/event.js';
import type { EslFrame } from '../../src/esl/parser.js';
import { apiResponse, CommandReader, plainEvent, reply, silentLog, socketPair } from './esl-support.js';

async function setup(commandTimeoutMs = 5000) {
  const pair = await socketPair();
  const events: EslEvent[] = [];
  const notices: EslFrame[] = [];
  let closeReason: Error | undefined | null = null;
  const conn = new EslConnection(pair.near, {
    log: silentLog,
    commandTimeoutMs,
    handlers: {
      onEvent: (e) => events.push(e),
      onNotice: (f) => notices.push(f),
      onClose: (r) => (closeReason = r),
    },
  });
  const fs = new CommandReader(pair.far);
  cleanups.push(pair.close);
  return { conn, fs, far: pair.far, events, notices, closeReason: () => closeReason };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('EslConnection command FIFO', () => {
  it('matches replies to commands in order with events interleaved', async () => {
    const { conn, fs, far, events } = await setup();
    const a = conn.api('status');
    const b = conn.command('myevents');
    const c = conn.api('uuid_getvar x y');
    expect(await fs.next()).toBe('api status\n\n');
    expect(await fs.next()).toBe('myevents\n\n');
    expect(await fs.next()).toBe('api uuid_getvar x y\n\n');
    far.write(apiResponse('UP 0 years\n') + plainEvent({ 'Event-Name': 'DTMF', 'DTMF-Digit': '5' }));
    far.write(
      reply('+OK Events Enabled') + plainEvent({ 'Event-Name': 'CHANNEL_ANSWER' }) + apiResponse('listening'),
    );
    expect(await a).toBe('UP 0 years\n');
    expect((await b).text).toBe('+OK Events Enabled');
    expect(await c).toBe('listening');
    expect(events.map((e) => e.eventName)).toEqual(['DTMF', 'CHANNEL_ANSWER']);
    expect(conn.pendingCount()).toBe(0);
  });

  it('rejects -ERR and -USAGE with EslCommandError keeping the text', async () => {
    const { conn, fs, far } = await setup();
    const a = conn.api('nosuchcommand foo');
    const b = conn.command('myevents');
    const c = conn.api('uuid_setvar u');
    await fs.next();
    await fs.next();
    await fs.next();
    far.write(apiResponse('-ERR nosuchcommand Command not found!\n') + reply('-ERR aready enabled.'));
    far.write(apiResponse('-USAGE: <uuid> <var> [value]\n'));
    await expect(a).rejects.toMatchObject({
      code: 'E_ESL_COMMAND',
      reply: '-ERR nosuchcommand Command not found!\n',
    });
    await expect(b).rejects.toBeInstanceOf(EslCommandError);
    await expect(c).rejects.toMatchObject({ code: 'E_ESL_COMMAND' });
  });

  it('keeps the reply slot of a timed-out command so later replies are not misattributed', async () => {
    const { conn, fs, far } = await setup();
    const slow = conn.api('slow', { timeoutMs: 20 });
    const next = conn.api('fast');
    await expect(slow).rejects.toMatchObject({ code: 'E_ESL_TIMEOUT' });
    expect(conn.queuedReplies()).toBe(2);
    await fs.next();
    await fs.next();
    far.write(apiResponse('slow-output') + apiResponse('fast-output'));
    expect(await next).toBe('fast-output');
    expect(conn.queuedReplies()).toBe(0);
  });

  it('keeps the slot of an aborted command too, and never writes an already aborted one', async () => {
    const { conn, fs, far } = await setup();
    const ac = new AbortController();
    const first = conn.api('one', { signal: ac.signal });
    const pre = new AbortController();
    pre.abort();
    await expect(conn.api('never', { signal: pre.signal })).rejects.toBeInstanceOf(AbortedError);
    const second = conn.api('two');
    ac.abort();
    await expect(first).rejects.toBeInstanceOf(AbortedError);
    expect(await fs.next()).toBe('api one\n\n');
    expect(await fs.next()).toBe('api two\n\n');
    far.write(apiResponse('1') + apiResponse('2'));
    expect(await second).toBe('2');
  });

  it('resolves bgapi by the BACKGROUND_JOB carrying its own Job-UUID', async () => {
    const { conn, fs, far } = await setup();
    const job = conn.bgapi('uuid_exists abc');
    const cmd = await fs.next();
    const uuid = /Job-UUID: (\S+)/.exec(cmd)?.[1] ?? '';
    expect(cmd).toBe(`bgapi uuid_exists abc\nJob-UUID: ${uuid}\n\n`);
    far.write(`Content-Type: command/reply\nReply-Text: +OK Job-UUID: ${uuid}\nJob-UUID: ${uuid}\n\n`);
    far.write(plainEvent({ 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': 'other' }, 'no'));
    far.write(
      plainEvent({ 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': uuid, 'Job-Command': 'uuid_exists' }, 'false'),
    );
    expect(await job).toBe('false');
    expect(conn.pendingCount()).toBe(0);
  });

  it('rejects a bgapi whose job output is -ERR', async () => {
    const { conn, fs, far } = await setup();
    const job = conn.bgapi('originate nowhere');
    const uuid = /Job-UUID: (\S+)/.exec(await fs.next())?.[1] ?? '';
    far.write(
      reply(`+OK Job-UUID: ${uuid}`) +
        plainEvent({ 'Event-Name': 'BACKGROUND_JOB', 'Job-UUID': uuid }, '-ERR NO_ROUTE\n'),
    );
    await expect(job).rejects.toMatchObject({ code: 'E_ESL_COMMAND', reply: '-ERR NO_ROUTE\n' });
  });

  it('rejects every pending command and job with E_ESL_CLOSED when the socket closes', async () => {
    const { conn, fs, far, closeReason } = await setup();
    const a = conn.api('hang');
    const b = conn.bgapi('slow');
    await fs.next();
    await fs.next();
    far.destroy();
    await expect(a).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    await expect(b).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    expect(closeReason()).toBeUndefined();
    expect(conn.pendingCount()).toBe(0);
    expect(conn.socketListenerCount()).toBe(0);
    await expect(conn.api('after')).rejects.toBeInstanceOf(EslError);
  });

  it('refuses commands that would smuggle a blank line or a second line', async () => {
    const { conn } = await setup();
    await expect(conn.command('api a\n\nexit')).rejects.toMatchObject({ code: 'E_INVALID_INPUT' });
    await expect(conn.api('status\nexit')).rejects.toMatchObject({ code: 'E_INVALID_INPUT' });
  });
});

describe('subscribeCommand', () => {
  it('puts CUSTOM and its subclasses last', () => {
    expect(
      subscribeCommand('json', ['mod_audio_stream::play', 'CHANNEL_PARK', 'CUSTOM', 'DTMF', 'x::y']),
    ).toBe('event json CHANNEL_PARK DTMF CUSTOM mod_audio_stream::play x::y');
    expect(subscribeCommand('plain', ['DTMF'])).toBe('event plain DTMF');
  });
});
