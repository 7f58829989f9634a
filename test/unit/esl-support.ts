/* Shared helpers of the esl-* unit tests: recordings, a reference splitter, loggers and in-test TCP peers. */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';

export const RECORDINGS_DIR = fileURLToPath(new URL('../fixtures/recordings/', import.meta.url));

export interface RecordingEntry {
  dir: 'fs->app' | 'app->fs';
  t_ms: number;
  conn: string;
  kind: string;
  data?: string;
}

export function recordingNames(): string[] {
  return readdirSync(RECORDINGS_DIR)
    .filter((f) => f.endsWith('.jsonl'))
    .sort();
}

export function loadRecording(name: string): RecordingEntry[] {
  const text = readFileSync(`${RECORDINGS_DIR}${name}`, 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as RecordingEntry);
}

/** The fs->app ESL chunks of each connection, with their real boundaries. */
export function fsChunks(name: string): Map<string, Buffer[]> {
  const out = new Map<string, Buffer[]>();
  for (const e of loadRecording(name)) {
    if (e.kind !== 'tcp' || e.dir !== 'fs->app' || e.data === undefined) continue;
    const list = out.get(e.conn) ?? [];
    list.push(Buffer.from(e.data, 'utf8'));
    out.set(e.conn, list);
  }
  return out;
}

/** Decoding of the reference splitter: decodeURIComponent, or Latin-1 `unescape` when that throws. */
export function referenceDecode(v: string): string {
  try {
    return decodeURIComponent(v);
  } catch {
    return unescape(v);
  }
}

export interface RefFrame {
  headers: [string, string][];
  body: Buffer | undefined;
}

/** A deliberately naive splitter (LF only, whole buffer), independent from src/esl/parser.ts. */
export function referenceSplit(bytes: Buffer): RefFrame[] {
  const frames: RefFrame[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const end = bytes.indexOf('\n\n', pos);
    if (end < 0) throw new Error(`unterminated header block at ${pos}`);
    const headers = bytes
      .subarray(pos, end)
      .toString('latin1')
      .split('\n')
      .map((line): [string, string] => {
        const i = line.indexOf(': ');
        return [line.slice(0, i), line.slice(i + 2)];
      });
    const cl = headers.find(([k]) => k === 'Content-Length');
    const len = cl === undefined ? 0 : Number(cl[1]);
    frames.push({ headers, body: cl === undefined ? undefined : bytes.subarray(end + 2, end + 2 + len) });
    pos = end + 2 + len;
  }
  return frames;
}

/** Headers as the daemon should see them (last duplicate wins). */
export function refHeaderRecord(headers: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of headers) out[k] = referenceDecode(v);
  return out;
}

export interface LogLine {
  level: number;
  msg: string;
  code?: string;
  [k: string]: unknown;
}

/** A pino logger that keeps its lines in memory. */
export function memoryLogger(level = 'debug'): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { log: pino({ level }, stream), lines };
}

export const silentLog: Logger = pino({ level: 'silent' });

/** Reads ESL commands (blank-line terminated, optional Content-Length body) off a socket. */
export class CommandReader {
  private buf = Buffer.alloc(0);
  private readonly queue: string[] = [];
  private waiting: ((cmd: string) => void) | undefined;
  ended = false;
  private endWaiters: (() => void)[] = [];

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const end = this.buf.indexOf('\n\n');
        if (end < 0) break;
        const head = this.buf.subarray(0, end).toString('utf8');
        const m = /(?:^|\n)Content-Length: (\d+)/i.exec(head);
        const len = m === null ? 0 : Number(m[1]);
        if (this.buf.length < end + 2 + len) break;
        const cmd = this.buf.subarray(0, end + 2 + len).toString('utf8');
        this.buf = this.buf.subarray(end + 2 + len);
        const w = this.waiting;
        this.waiting = undefined;
        if (w) w(cmd);
        else this.queue.push(cmd);
      }
    });
    socket.on('end', () => {
      this.ended = true;
      for (const w of this.endWaiters.splice(0)) w();
    });
  }

  next(): Promise<string> {
    const q = this.queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  end(): Promise<void> {
    return this.ended ? Promise.resolve() : new Promise((resolve) => this.endWaiters.push(resolve));
  }
}

export type ReplayStep =
  | { kind: 'expect'; command: string }
  | { kind: 'send'; data: Buffer; gapMs: number }
  | { kind: 'app-fin' }
  | { kind: 'fs-fin' };

/** The outbound connection of a recording as steps a fake FreeSWITCH replays. */
export function outboundSteps(name: string): ReplayStep[] {
  const steps: ReplayStep[] = [];
  let last = 0;
  for (const e of loadRecording(name)) {
    if (e.conn !== 'outbound') continue;
    if (e.kind === 'tcp' && e.dir === 'app->fs') steps.push({ kind: 'expect', command: e.data ?? '' });
    else if (e.kind === 'tcp')
      steps.push({ kind: 'send', data: Buffer.from(e.data ?? '', 'utf8'), gapMs: e.t_ms - last });
    else if (e.kind === 'tcp-fin') steps.push({ kind: e.dir === 'app->fs' ? 'app-fin' : 'fs-fin' });
    last = e.t_ms;
  }
  return steps;
}

/**
 * A fake FreeSWITCH that dials the outbound server and replays a recorded conversation: it waits for each
 * command the daemon sent in the recording, then writes what FreeSWITCH wrote. With `holdOverMs`, a chunk that
 * came after a longer silence in the recording is held until `advance()`.
 */
export class ReplayPeer {
  readonly socket: Socket;
  readonly commands: string[] = [];
  readonly done: Promise<void>;
  private releaseHeld: (() => void) | undefined;
  private heldWaiters: (() => void)[] = [];

  constructor(
    port: number,
    steps: ReplayStep[],
    options: { holdOverMs?: number; maxHolds?: number; transform?: (b: Buffer) => Buffer } = {},
  ) {
    const socket = connect({ port, host: '127.0.0.1' });
    this.socket = socket;
    socket.on('error', () => undefined);
    const reader = new CommandReader(socket);
    let holds = options.maxHolds ?? Infinity;
    this.done = (async () => {
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      for (const step of steps) {
        if (step.kind === 'expect') {
          const cmd = await reader.next();
          this.commands.push(cmd);
          const want = step.command.split(/[\s]/)[0];
          if (cmd.split(/[\s]/)[0] !== want) throw new Error(`expected ${want}, got ${JSON.stringify(cmd)}`);
        } else if (step.kind === 'send') {
          if (options.holdOverMs !== undefined && step.gapMs > options.holdOverMs && holds > 0) {
            holds--;
            await new Promise<void>((resolve) => {
              this.releaseHeld = resolve;
              for (const w of this.heldWaiters.splice(0)) w();
            });
          }
          socket.write(options.transform ? options.transform(step.data) : step.data);
        } else if (step.kind === 'app-fin') {
          await reader.end();
        } else {
          socket.end();
        }
      }
    })();
  }

  /** Resolves once the peer holds a chunk. */
  held(): Promise<void> {
    return this.releaseHeld !== undefined
      ? Promise.resolve()
      : new Promise((resolve) => this.heldWaiters.push(resolve));
  }

  advance(): void {
    const r = this.releaseHeld;
    this.releaseHeld = undefined;
    r?.();
  }
}

/** A TCP server on a free loopback port. */
export async function listen(
  onSocket: (s: Socket) => void,
  port = 0,
): Promise<{ server: Server; port: number }> {
  const server = createServer(onSocket);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** A connected pair of sockets over loopback. */
export async function socketPair(): Promise<{ near: Socket; far: Socket; close: () => Promise<void> }> {
  let resolveFar!: (s: Socket) => void;
  const farReady = new Promise<Socket>((resolve) => (resolveFar = resolve));
  const { server, port } = await listen((s) => resolveFar(s));
  const near = connect({ port, host: '127.0.0.1' });
  const far = await farReady;
  await new Promise<void>((resolve) => (near.connecting ? near.once('connect', () => resolve()) : resolve()));
  return {
    near,
    far,
    close: async () => {
      near.destroy();
      far.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export const reply = (text: string): string => `Content-Type: command/reply\nReply-Text: ${text}\n\n`;
export const apiResponse = (body: string): string =>
  `Content-Type: api/response\nContent-Length: ${Buffer.byteLength(body)}\n\n${body}`;
export function plainEvent(headers: Record<string, string>, body?: string): string {
  let inner = Object.entries(headers)
    .map(([k, v]) => `${k}: ${encodeURIComponent(v)}\n`)
    .join('');
  inner += body === undefined ? '\n' : `Content-Length: ${Buffer.byteLength(body)}\n\n${body}`;
  return `Content-Length: ${Buffer.byteLength(inner)}\nContent-Type: text/event-plain\n\n${inner}`;
}
const DISCONNECT = (uuid: string, disposition: string): string =>
  `Content-Type: text/disconnect-notice\nControlled-Session-UUID: ${uuid}\nContent-Disposition: ${disposition}\n` +
  (disposition === 'linger'
    ? 'Linger-Time: 5\nContent-Length: 0\n\n'
    : 'Content-Length: 23\n\nDisconnected, goodbye.\n');

/** The recorded CHANNEL_DATA reply of outbound-socket-turn and its call's Unique-ID. */
export function recordedConnectReply(): { bytes: Buffer; uniqueId: string } {
  const first = fsChunks('outbound-socket-turn.jsonl').get('outbound')?.[0];
  if (first === undefined) throw new Error('recording missing');
  return { bytes: first, uniqueId: '33b5929c-06e0-4ac7-bbd7-7c77d4a4610c' };
}

/**
 * A fake FreeSWITCH outbound leg that answers on its own: the recorded connect reply, +OK to commands,
 * an EXECUTE_COMPLETE for each execute (Application-UUID = its Event-UUID), CHANNEL_HANGUP and a linger notice
 * on hangup, and the final disconnect notice and close when the daemon half-closes.
 */
export function autoPeer(port: number): { socket: Socket; commands: string[]; closed: Promise<void> } {
  const { bytes, uniqueId } = recordedConnectReply();
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => undefined);
  const commands: string[] = [];
  const reader = new CommandReader(socket);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void (async () => {
    for (;;) {
      const cmd = await Promise.race([reader.next(), reader.end().then(() => undefined)]);
      if (cmd === undefined || socket.destroyed) break;
      commands.push(cmd);
      const h = (name: string): string => new RegExp(`\\n${name}: ([^\\n]*)`).exec(cmd)?.[1] ?? '';
      if (cmd.startsWith('connect')) socket.write(bytes);
      else if (cmd.startsWith('api ')) socket.write(apiResponse('+OK\n'));
      else if (cmd.startsWith('sendmsg') && h('call-command') === 'execute') {
        const ev = {
          'Event-Name': 'CHANNEL_EXECUTE_COMPLETE',
          'Unique-ID': uniqueId,
          Application: h('execute-app-name'),
        };
        socket.write(
          reply('+OK') +
            plainEvent({ ...ev, 'Application-UUID': h('Event-UUID'), 'Application-Response': 'FILE PLAYED' }),
        );
      } else if (cmd.startsWith('sendmsg') && h('call-command') === 'hangup') {
        socket.write(
          reply('+OK') +
            plainEvent({
              'Event-Name': 'CHANNEL_HANGUP',
              'Unique-ID': uniqueId,
              'Hangup-Cause': h('hangup-cause'),
            }),
        );
        socket.write(DISCONNECT(uniqueId, 'linger'));
      } else socket.write(reply('+OK'));
    }
    if (!socket.destroyed) socket.end(DISCONNECT(uniqueId, 'disconnect'));
  })();
  return { socket, commands, closed };
}
