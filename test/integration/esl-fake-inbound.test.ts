/**
 * The inbound ESL connection (port 8021) against the whole fake FreeSWITCH: auth, api and bgapi, the events it
 * subscribed to (and only those), a refused password, a FreeSWITCH that stops under pending commands and comes
 * back on the same port, and corrupt frames that cost only the connection they arrived on.
 */
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EslCommandError } from '../../src/core/errors.js';
import {
  createInboundConnection,
  createOutboundServer,
  DEFAULT_MAX_FRAME_BYTES,
  type EslEvent,
  type InboundConnection,
  type InboundOptions,
  type InboundState,
  type OutboundSession,
} from '../../src/esl/index.js';
import { startFakeFreeSwitch, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';

const SUBCLASS = 'voice_ai::probe';

interface LogLine {
  level: number;
  msg: string;
  code?: string;
}

/** A pino logger that keeps its lines and lets a test wait for one. */
function captureLog(): { log: Logger; lines: LogLine[]; until: (pred: () => boolean) => Promise<void> } {
  const lines: LogLine[] = [];
  let waiters: Array<() => void> = [];
  const log = pino(
    { level: 'debug' },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as LogLine);
        const ws = waiters;
        waiters = [];
        for (const w of ws) w();
      },
    },
  );
  const until = async (pred: () => boolean): Promise<void> => {
    while (!pred()) await new Promise<void>((resolve) => waiters.push(resolve));
  };
  return { log, lines, until };
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function fakeFs(port = 0): Promise<FakeFreeSwitch> {
  const fake = await startFakeFreeSwitch({ port });
  cleanups.push(() => fake.stop());
  return fake;
}

function client(fake: FakeFreeSwitch, log: Logger, opts: Partial<InboundOptions> = {}): InboundConnection {
  const c = createInboundConnection({
    port: fake.inboundPort,
    password: 'ClueCon',
    log,
    events: ['HEARTBEAT', 'CUSTOM', SUBCLASS],
    // Short, fixed waits: the reconnects below happen in tens of milliseconds.
    backoff: { baseMs: 20, capMs: 40 },
    random: () => 0.5,
    ...opts,
  });
  cleanups.push(() => c.close());
  return c;
}

/** Resolves at the next `state` the connection reports with this value. */
function nextState(c: InboundConnection, want: InboundState): Promise<void> {
  return new Promise((resolve) => {
    const on = (state: InboundState): void => {
      if (state !== want) return;
      c.off('state', on);
      resolve();
    };
    c.on('state', on);
  });
}

/** Resolves with the next event that matches; every event seen on the way is kept in `seen`. */
function nextEvent(
  c: InboundConnection,
  match: (e: EslEvent) => boolean,
  seen: EslEvent[] = [],
): Promise<EslEvent> {
  return new Promise((resolve) => {
    const on = (e: EslEvent): void => {
      seen.push(e);
      if (!match(e)) return;
      c.off('event', on);
      resolve(e);
    };
    c.on('event', on);
  });
}

const isProbe =
  (tag: string) =>
  (e: EslEvent): boolean =>
    e.name === 'CUSTOM' && e.subclass === SUBCLASS && e.headers['Probe-Tag'] === tag;

/** Emits a probe event from the fake and resolves once the client received it. */
async function probe(fake: FakeFreeSwitch, c: InboundConnection): Promise<EslEvent> {
  const tag = randomUUID();
  const got = nextEvent(c, isProbe(tag));
  fake.emitEvent({ 'Event-Name': 'CUSTOM', 'Event-Subclass': SUBCLASS, 'Probe-Tag': tag });
  return got;
}

describe('inbound ESL connection against the fake FreeSWITCH', () => {
  it('authenticates; api, bgapi and subscribed events (only those) work', async () => {
    const fake = await fakeFs();
    const { log } = captureLog();
    const c = client(fake, log);
    await c.start();
    expect(c.connected).toBe(true);
    expect(c.reconnects).toBe(0);
    expect(fake.inboundConnections()).toBe(1);

    const status = await c.api('status');
    expect(status).toMatch(
      /^UP 0 years, 0 days, 0 hours, 0 minutes, \d+ seconds, \d+ milliseconds, \d+ microseconds\n/,
    );
    expect(status.split('\n').slice(1)).toEqual([
      'FreeSWITCH (Version 1.10.12-release  64bit) is ready',
      '0 session(s) since startup',
      '0 session(s) - peak 2, last 5min 2 ',
      '0 session(s) per Sec out of max 100, peak 2, last 5min 2 ',
      '1000 session(s) max',
      'min idle cpu 0.00/99.03',
      'Current Stack Size/Max 240K/8192K',
      '',
    ]);
    await expect(c.api('no_such_command')).rejects.toBeInstanceOf(EslCommandError);

    const version = await c.bgapi('version');
    expect(version).toMatch(/^FreeSWITCH Version 1\.10\.12-release/);
    await expect(c.bgapi('uuid_kill', randomUUID())).rejects.toMatchObject({
      code: 'E_ESL_COMMAND',
      reply: '-ERR No such channel!\n',
    });
    expect(fake.apiLog).toEqual([
      'status',
      'no_such_command',
      'version',
      expect.stringMatching(/^uuid_kill [0-9a-f-]{36}$/) as unknown as string,
    ]);
    expect(c.pendingCount()).toBe(0);

    // An unsubscribed CUSTOM subclass, then a subscribed one: the fake delivers in order, so the first CUSTOM
    // to arrive shows whether the subscription let the other through.
    const seen: EslEvent[] = [];
    const tag = randomUUID();
    const got = nextEvent(c, isProbe(tag), seen);
    fake.emitEvent({ 'Event-Name': 'CUSTOM', 'Event-Subclass': 'other::thing', 'Probe-Tag': tag });
    fake.emitEvent({ 'Event-Name': 'HEARTBEAT', 'Probe-Tag': tag });
    fake.emitEvent({ 'Event-Name': 'CUSTOM', 'Event-Subclass': SUBCLASS, 'Probe-Tag': tag }, 'probe body');
    const event = await got;
    expect(event).toMatchObject({ name: 'CUSTOM', subclass: SUBCLASS, body: 'probe body' });
    expect(seen.map((e) => e.eventName)).toEqual(['HEARTBEAT', 'CUSTOM']);
  });

  it('a refused password is logged as E_ESL_AUTH and retried; it never connects', async () => {
    const fake = await fakeFs();
    const { log, lines, until } = captureLog();
    const c = client(fake, log, { password: 'not-ClueCon' });
    const started = c.start();
    const authFailures = (): LogLine[] => lines.filter((l) => l.msg === 'esl inbound auth failed');

    await until(() => authFailures().length >= 3);

    expect(authFailures().every((l) => l.code === 'E_ESL_AUTH' && l.level === 50)).toBe(true);
    expect(c.connected).toBe(false);
    expect(c.reconnects).toBe(0);
    await expect(c.api('status')).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    expect(fake.apiLog).toEqual([]);
    await c.close();
    await expect(started).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
  });

  it('FreeSWITCH stops: pending commands fail E_ESL_CLOSED; back on the same port: reconnected, re-subscribed', async () => {
    const first = await startFakeFreeSwitch();
    cleanups.push(() => first.stop());
    const port = first.inboundPort;
    const { log } = captureLog();
    const c = client(first, log);
    await c.start();
    await probe(first, c);

    const down = nextState(c, 'disconnected');
    // Written to the socket, never answered: the fake stops before it reads them.
    const pending = [c.api('status'), c.bgapi('version'), c.api('uuid_exists 0')];
    const stopped = first.stop();
    const outcomes = await Promise.allSettled(pending);
    expect(outcomes.map((o) => o.status === 'rejected' && (o.reason as { code?: string }).code)).toEqual([
      'E_ESL_CLOSED',
      'E_ESL_CLOSED',
      'E_ESL_CLOSED',
    ]);
    await down;
    expect(c.connected).toBe(false);
    expect(c.pendingCount()).toBe(0);
    await expect(c.api('status')).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    await stopped;

    const up = nextState(c, 'connected');
    const second = await fakeFs(port);
    await up;
    expect(c.connected).toBe(true);
    expect(c.reconnects).toBe(1);
    // Subscribed again: an event of the new FreeSWITCH arrives, and commands work.
    expect(await probe(second, c)).toMatchObject({ name: 'CUSTOM', subclass: SUBCLASS });
    expect(await c.api('status')).toMatch(/\n0 session\(s\) since startup\n/);
    expect(second.inboundConnections()).toBe(1);
  });

  it.each([
    {
      what: 'a frame with an invalid Content-Length',
      fault: (f: FakeFreeSwitch) =>
        f.faults.sendGarbage(
          Buffer.from('Content-Type: text/event-plain\nContent-Length: 12x\n\n', 'latin1'),
        ),
      code: 'E_ESL_PROTOCOL',
    },
    {
      what: 'an oversized frame',
      fault: (f: FakeFreeSwitch) => f.faults.sendOversized(DEFAULT_MAX_FRAME_BYTES + 1),
      code: 'E_ESL_FRAME_TOO_LARGE',
    },
  ])('$what closes only that connection; the client reconnects', async ({ fault, code }) => {
    const fake = await fakeFs();
    const { log, lines } = captureLog();
    const c = client(fake, log);
    await c.start();
    // Another connection to the same FreeSWITCH: a call on the daemon's outbound server.
    let handOut!: (s: OutboundSession) => void;
    const arrived = new Promise<OutboundSession>((resolve) => (handOut = resolve));
    const server = await createOutboundServer({ port: 0, log, onSession: (s) => handOut(s) });
    cleanups.push(() => server.destroy());
    const callUuid = randomUUID();
    fake.placeCall({ target: { host: '127.0.0.1', port: server.port }, uuid: callUuid });
    const session = await arrived;

    const down = nextState(c, 'disconnected');
    const up = nextState(c, 'connected');
    fault(fake);
    await down;
    await up;

    expect(lines.filter((l) => l.msg === 'esl connection dropped: bad frame').map((l) => l.code)).toEqual([
      code,
    ]);
    expect(c.reconnects).toBe(1);
    expect(await probe(fake, c)).toMatchObject({ subclass: SUBCLASS });
    expect(await c.api('uuid_exists ' + callUuid)).toBe('true');
    // The call's own connection never noticed.
    expect(session.closed).toBe(false);
    expect((await session.execute('answer')).response).toBe('_none_');
    expect(fake.inboundConnections()).toBe(1);
  });

  it('a frame that parses but means nothing is ignored: the connection stays', async () => {
    const fake = await fakeFs();
    const { log, lines } = captureLog();
    const c = client(fake, log);
    await c.start();
    fake.faults.sendGarbage(Buffer.from('\x00\xffGarbage: x\n\n', 'latin1'));
    expect(await c.api('status')).toMatch(/^UP /);
    expect(c.reconnects).toBe(0);
    expect(c.connected).toBe(true);
    expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  });
});
