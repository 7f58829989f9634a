/**
 * Test-side tooling to check the fake against the recordings: load a .jsonl recording, frame what a
 * raw socket receives (its own tiny parser, sharing nothing with src/esl or the fake's encoder), and
 * compare frames header by header.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

export interface Frame {
  /** Outer header block, raw (values as on the wire). */
  headers: Array<[string, string]>;
  body: Buffer;
  /** The event inside text/event-plain (raw URL-encoded values) or text/event-json (decoded values). */
  event?: { headers: Array<[string, string]>; body?: string };
}

export type RecItem =
  | { kind: 'send'; conn: string; bytes: Buffer; t: number }
  | { kind: 'frame'; conn: string; frame: Frame; t: number }
  | { kind: 'fin'; conn: string; dir: 'app->fs' | 'fs->app'; t: number };

interface RecLine {
  dir: 'app->fs' | 'fs->app';
  t_ms: number;
  conn: string;
  kind: string;
  data?: string;
}

function header(h: Array<[string, string]>, name: string): string | undefined {
  return h.find(([n]) => n === name)?.[1];
}

/** Flat JSON object of strings to ordered entries, keeping duplicate keys (FreeSWITCH emits them). */
export function jsonEntries(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const re = /"((?:[^"\\]|\\.)*)":("(?:[^"\\]|\\.)*")/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push([JSON.parse(`"${m[1] ?? ''}"`) as string, JSON.parse(m[2] ?? '""') as string]);
  }
  return out;
}

function parseEvent(ct: string | undefined, body: Buffer): Frame['event'] {
  if (ct === 'text/event-plain') {
    const text = body.toString('utf8');
    const end = text.indexOf('\n\n');
    const head = end < 0 ? text : text.slice(0, end);
    const headers = head
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l): [string, string] => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]);
    const inner = end < 0 ? '' : text.slice(end + 2);
    return inner.length > 0 ? { headers, body: inner } : { headers };
  }
  if (ct === 'text/event-json') {
    const entries = jsonEntries(body.toString('utf8'));
    const bodyEntry = entries.find(([k]) => k === '_body');
    const headers = entries.filter(([k]) => k !== '_body');
    return bodyEntry ? { headers, body: bodyEntry[1] } : { headers };
  }
  return undefined;
}

/** Frames a FreeSWITCH-to-client byte stream: header block, blank line, Content-Length bytes. */
export class FrameParser {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    for (;;) {
      const end = this.buf.indexOf('\n\n');
      if (end < 0) break;
      const headers = this.buf
        .subarray(0, end)
        .toString('utf8')
        .split('\n')
        .map((l): [string, string] => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]);
      const len = Number(header(headers, 'Content-Length') ?? '0');
      if (this.buf.length < end + 2 + len) break;
      const body = Buffer.from(this.buf.subarray(end + 2, end + 2 + len));
      this.buf = this.buf.subarray(end + 2 + len);
      const event = parseEvent(header(headers, 'Content-Type'), body);
      out.push(event ? { headers, body, event } : { headers, body });
    }
    return out;
  }
}

/** The recording as an ordered list of sends, received frames and FINs. */
export function loadRecording(path: string): RecItem[] {
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as RecLine);
  const parsers = new Map<string, FrameParser>();
  const items: RecItem[] = [];
  for (const l of lines) {
    if (l.kind === 'tcp-fin') items.push({ kind: 'fin', conn: l.conn, dir: l.dir, t: l.t_ms });
    if (l.kind !== 'tcp' || l.data === undefined) continue;
    const bytes = Buffer.from(l.data, 'utf8');
    if (l.dir === 'app->fs') {
      items.push({ kind: 'send', conn: l.conn, bytes, t: l.t_ms });
      continue;
    }
    let p = parsers.get(l.conn);
    if (!p) parsers.set(l.conn, (p = new FrameParser()));
    for (const frame of p.push(bytes)) items.push({ kind: 'frame', conn: l.conn, frame, t: l.t_ms });
  }
  return items;
}

/** A raw client socket collecting frames; waits are bounded. */
export class RawClient {
  readonly frames: Frame[] = [];
  finished = false;
  private readonly parser = new FrameParser();
  private waiters: Array<() => void> = [];
  private readonly hooks = new Map<number, () => void>();

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.parser.push(chunk)) {
        this.frames.push(f);
        this.hooks.get(this.frames.length)?.();
      }
      this.notify();
    });
    socket.on('end', () => {
      this.finished = true;
      this.notify();
    });
    socket.on('close', () => {
      this.finished = true;
      this.notify();
    });
  }

  /** Runs `fn` as soon as `count` frames have been received (a caller action at that point). */
  at(count: number, fn: () => void): void {
    if (this.frames.length >= count) fn();
    else this.hooks.set(count, fn);
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `pred` holds; rejects after `timeoutMs` with what was received. */
  waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(`timed out waiting for ${what}; got ${this.frames.length} frames: ${this.describe()}`),
        );
      }, timeoutMs);
      const check = (): void => {
        if (pred()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      check();
    });
  }

  waitFrames(n: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor(() => this.frames.length >= n, timeoutMs, `${n} frames`);
  }

  describe(): string {
    return this.frames.map(describeFrame).join(' | ');
  }
}

export function describeFrame(f: Frame): string {
  const ct = header(f.headers, 'Content-Type') ?? '(no content-type)';
  if (f.event) {
    const ev = f.event.headers;
    const name = header(ev, 'Event-Name') ?? '';
    const app = header(ev, 'Application');
    return `${ct} ${name}${app ? ` ${app}` : ''}`;
  }
  return `${ct} ${header(f.headers, 'Reply-Text') ?? header(f.headers, 'Content-Disposition') ?? ''}`.trim();
}

/** Headers whose values depend on ids, clocks, ports or the capture host, not on behaviour. */
const VOLATILE = [
  /^Content-Length$/,
  /^Core-UUID$/,
  /^Event-Date-/,
  /^Event-Sequence$/,
  /Unique-ID$/,
  /^Channel-Call-UUID$/,
  /-Time$/,
  /^Controlled-Session-UUID$/,
  /^Job-UUID$/,
  /^Event-UUID$/,
  /Transfer-Source$/,
  /^variable_(uuid|call_uuid|session_id|other_loopback_leg_uuid)$/,
  /^variable_.*(stamp|epoch|duration|sec|usec|msec)$/,
  /^variable_transfer_(history|source)$/,
  /^Event-Calling-Line-Number$/,
];

export interface CompareOptions {
  /** Values to substitute in the actual frame before comparing (fake uuid -> recorded uuid, ports). */
  replace?: Array<[string, string]>;
  /** Further header names (regex) whose values are not compared. */
  ignoreValues?: RegExp[];
  /** Application-UUIDs the client chose (Event-UUID): compared; other Application-UUIDs are generated. */
  chosenIds?: Set<string>;
  /** Leave `variable_*` headers out (the recorded channel was not set up like the fake's). */
  skipVariables?: boolean;
  /** Do not compare api/response bodies (status uptime). */
  skipBody?: boolean;
}

function volatile(name: string, extra: RegExp[]): boolean {
  return VOLATILE.some((r) => r.test(name)) || extra.some((r) => r.test(name));
}

function compareHeaderLists(
  where: string,
  expected: Array<[string, string]>,
  actual: Array<[string, string]>,
  opts: CompareOptions,
): string[] {
  const diffs: string[] = [];
  const en = expected.map(([n]) => n).join(',');
  const an = actual.map(([n]) => n).join(',');
  if (en !== an) {
    const missing = expected.filter(([n]) => !actual.some(([m]) => m === n)).map(([n]) => n);
    const extra = actual.filter(([n]) => !expected.some(([m]) => m === n)).map(([n]) => n);
    diffs.push(`${where}: header names differ; missing [${missing.join(',')}] extra [${extra.join(',')}]`);
    if (missing.length === 0 && extra.length === 0)
      diffs.push(`${where}: order\n  expected ${en}\n  actual   ${an}`);
  }
  const used = new Set<number>();
  for (const [name, value] of expected) {
    if (volatile(name, opts.ignoreValues ?? [])) continue;
    if (name === 'Application-UUID' && !(opts.chosenIds ?? new Set()).has(value)) continue;
    const idx = actual.findIndex(([n], i) => n === name && !used.has(i));
    if (idx < 0) continue;
    used.add(idx);
    let got = (actual[idx] as [string, string])[1];
    for (const [from, to] of opts.replace ?? []) got = got.split(from).join(to);
    if (name === 'Reply-Text') {
      // `+OK Job-UUID: <generated>`, `+OK <event uuid>`: the ids are FreeSWITCH's own.
      const ids = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
      if (got.replace(ids, 'X') === value.replace(ids, 'X')) continue;
    }
    if (got !== value)
      diffs.push(`${where}: ${name} expected ${JSON.stringify(value)} got ${JSON.stringify(got)}`);
  }
  return diffs;
}

/** Differences between a recorded frame and the fake's, ignoring volatile values. */
export function compareFrames(
  i: number,
  expected: Frame,
  actual: Frame,
  opts: CompareOptions = {},
): string[] {
  const where = `frame ${i} (${describeFrame(expected)})`;
  const diffs = compareHeaderLists(`${where} outer`, expected.headers, actual.headers, opts);
  const vars = (h: Array<[string, string]>): Array<[string, string]> =>
    opts.skipVariables ? h.filter(([n]) => !n.startsWith('variable_')) : h;
  if (expected.event && actual.event) {
    diffs.push(
      ...compareHeaderLists(`${where} event`, vars(expected.event.headers), vars(actual.event.headers), opts),
    );
    if (expected.event.body !== actual.event.body && !opts.skipBody) {
      diffs.push(
        `${where}: event body expected ${JSON.stringify(expected.event.body)} got ${JSON.stringify(actual.event.body)}`,
      );
    }
  } else if (!expected.event && !actual.event) {
    const ct = header(expected.headers, 'Content-Type');
    if ((ct === 'api/response' || ct === 'text/disconnect-notice') && !opts.skipBody) {
      let got = actual.body.toString('utf8');
      for (const [from, to] of opts.replace ?? []) got = got.split(from).join(to);
      if (got !== expected.body.toString('utf8')) {
        diffs.push(
          `${where}: body expected ${JSON.stringify(expected.body.toString())} got ${JSON.stringify(got)}`,
        );
      }
    }
  } else {
    diffs.push(`${where}: one side is an event, the other is not`);
  }
  return diffs;
}
