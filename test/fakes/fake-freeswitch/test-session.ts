/**
 * Test tooling: a minimal raw "daemon" that accepts one outbound call from the fake and speaks ESL by hand
 * (no src/esl), with waits on replies and events. For the fake's own tests.
 */
import { createServer } from 'node:net';
import type { FakeCall, FakeFreeSwitch, PlaceCallOptions } from './types.js';
import { RawClient } from './replay.js';
import type { Frame } from './replay.js';

export interface RawSession {
  call: FakeCall;
  client: RawClient;
  /** Writes a command (a trailing blank line is added) and resolves with its reply frame. */
  cmd(text: string): Promise<Frame>;
  /** The first event frame after `from` (default 0) with this Event-Name and matching headers. */
  event(name: string, match?: Record<string, string>, from?: number, timeoutMs?: number): Promise<Frame>;
  /** Event names received so far, with the Application for EXECUTE events. */
  names(): string[];
  close(): Promise<void>;
}

/** Header value of an event frame, URL-decoded for text/event-plain. */
export function ev(frame: Frame, name: string): string | undefined {
  const raw = frame.event?.headers.find(([n]) => n === name)?.[1];
  if (raw === undefined) return undefined;
  const ct = frame.headers.find(([n]) => n === 'Content-Type')?.[1];
  if (ct !== 'text/event-plain') return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function isReply(f: Frame): boolean {
  const ct = f.headers.find(([n]) => n === 'Content-Type')?.[1];
  return ct === 'command/reply' || ct === 'api/response';
}

/** Places a call to a raw server and returns the daemon side of it (already `connect`ed). */
export async function openSession(
  fake: FakeFreeSwitch,
  opts: Omit<PlaceCallOptions, 'target'>,
  setup: string[] = ['myevents', 'event plain PLAYBACK_START PLAYBACK_STOP RECORD_START RECORD_STOP'],
): Promise<RawSession> {
  const server = createServer();
  const accepted = new Promise<import('node:net').Socket>((r) => server.once('connection', r));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const call = fake.placeCall({ target: { host: '127.0.0.1', port }, ...opts });
  const socket = await accepted;
  const client = new RawClient(socket);
  const cmd = async (text: string): Promise<Frame> => {
    const from = client.frames.length;
    socket.write(text.endsWith('\n\n') ? text : `${text}\n\n`);
    let found: Frame | undefined;
    await client.waitFor(
      () => (found = client.frames.slice(from).find(isReply)) !== undefined,
      5000,
      `reply to ${text.split('\n')[0] ?? ''}`,
    );
    return found as Frame;
  };
  const event = async (
    name: string,
    match: Record<string, string> = {},
    from = 0,
    timeoutMs = 5000,
  ): Promise<Frame> => {
    let found: Frame | undefined;
    const ok = (f: Frame): boolean =>
      ev(f, 'Event-Name') === name && Object.entries(match).every(([k, v]) => ev(f, k) === v);
    await client.waitFor(
      () => (found = client.frames.slice(from).find(ok)) !== undefined,
      timeoutMs,
      `event ${name}`,
    );
    return found as Frame;
  };
  const names = (): string[] =>
    client.frames
      .filter((f) => f.event)
      .map((f) => {
        const app = ev(f, 'Application');
        return app ? `${ev(f, 'Event-Name') ?? ''} ${app}` : (ev(f, 'Event-Name') ?? '');
      });
  const close = async (): Promise<void> => {
    socket.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  await cmd('connect');
  for (const line of setup) await cmd(line);
  return { call, client, cmd, event, names, close };
}

/** A sendmsg execute with event-lock (and an optional Event-UUID). */
export function execute(app: string, arg?: string, extra: Record<string, string> = {}): string {
  const lines = ['sendmsg', 'call-command: execute', `execute-app-name: ${app}`];
  if (arg !== undefined) lines.push(`execute-app-arg: ${arg}`);
  if (!('event-lock' in extra)) lines.push('event-lock: true');
  // An empty value leaves the header out (`{ 'event-lock': '' }` sends no event-lock).
  for (const [k, v] of Object.entries(extra)) if (v !== '') lines.push(`${k}: ${v}`);
  return `${lines.join('\n')}\n\n`;
}
