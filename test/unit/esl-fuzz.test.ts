import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EslError } from '../../src/core/errors.js';
import { EslConnection } from '../../src/esl/connection.js';
import { urlEncode } from '../../src/esl/decode.js';
import { EslParser, type EslFrame } from '../../src/esl/parser.js';
import {
  apiResponse,
  CommandReader,
  fsChunks,
  recordingNames,
  silentLog,
  socketPair,
} from './esl-support.js';

/** Feeds chunks; returns the frames, or the error if one was thrown (which must be an EslError). */
function feed(
  chunks: Uint8Array[],
  parser = new EslParser({ maxFrameBytes: 64 * 1024, maxHeaderBytes: 16 * 1024 }),
): EslFrame[] {
  const frames: EslFrame[] = [];
  try {
    for (const c of chunks) parser.push(Buffer.from(c), (f) => frames.push(f));
  } catch (err) {
    if (!(err instanceof EslError)) throw err;
    expect(['E_ESL_PROTOCOL', 'E_ESL_FRAME_TOO_LARGE']).toContain(err.code);
  }
  return frames;
}

function cut(bytes: Buffer, points: number[]): Buffer[] {
  const p = [0, ...points.filter((x) => x > 0 && x < bytes.length).sort((a, b) => a - b), bytes.length];
  return p.slice(1).map((end, i) => bytes.subarray(p[i], end));
}

const recorded = Buffer.concat(recordingNames().flatMap((n) => [...fsChunks(n).values()].flat()));

describe('parser fuzzing', () => {
  it('random bytes never throw anything but a typed EslError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 2048 }), { maxLength: 8 }), (chunks) => {
        feed(chunks);
      }),
      { numRuns: 500 },
    );
  });

  it('random text made of ESL-ish pieces never throws anything but a typed EslError', () => {
    const piece = fc.constantFrom(
      '\n',
      '\r\n',
      '\n\n',
      'Content-Length: ',
      'Content-Type: text/event-plain',
      'Content-Type: text/event-json',
      '%',
      '%E3',
      ': ',
      '{',
      '"_body":',
      '12',
      '99999999999999999',
      'Event-Name: CUSTOM',
      'ã',
      '\u0000',
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (pieces, points) => {
          feed(cut(Buffer.from(pieces.join('')), points));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('mutated recorded traffic never throws anything but a typed EslError', () => {
    const windowBytes = 12_000;
    fc.assert(
      fc.property(
        fc.nat({ max: recorded.length - windowBytes }),
        fc.array(
          fc.record({
            at: fc.nat({ max: windowBytes - 1 }),
            byte: fc.integer({ min: 0, max: 255 }),
            op: fc.constantFrom('set', 'insert', 'delete'),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        fc.array(fc.nat({ max: windowBytes }), { maxLength: 8 }),
        (start, mutations, points) => {
          const bytes = [...recorded.subarray(start, start + windowBytes)];
          for (const m of mutations) {
            if (m.op === 'set') bytes[m.at % bytes.length] = m.byte;
            else if (m.op === 'insert') bytes.splice(m.at % bytes.length, 0, m.byte);
            else bytes.splice(m.at % bytes.length, 1);
          }
          feed(cut(Buffer.from(bytes), points));
        },
      ),
      { numRuns: 300 },
    );
  });
});

const headerName = fc.stringMatching(/^X-[A-Za-z0-9-]{1,12}$/);
const value = fc.string({ unit: 'grapheme', maxLength: 40 });
const headerList = fc.uniqueArray(fc.tuple(headerName, value), { selector: ([k]) => k, maxLength: 6 });
const eventName = fc.constantFrom(
  'CHANNEL_EXECUTE_COMPLETE',
  'DTMF',
  'CHANNEL_HANGUP',
  'CUSTOM',
  'BACKGROUND_JOB',
  'CHANNEL_PARK',
);

interface Model {
  contentType: string;
  headers: [string, string][];
  event?: { headers: [string, string][]; body?: string };
  body?: string;
}

const model: fc.Arbitrary<Model> = fc.oneof(
  fc.record({ contentType: fc.constant('command/reply'), headers: headerList }),
  fc.record({ contentType: fc.constantFrom('api/response', 'log/data'), headers: headerList, body: value }),
  fc.record({
    contentType: fc.constantFrom('text/event-plain', 'text/event-json'),
    headers: fc.constant<[string, string][]>([]),
    event: fc.record(
      {
        headers: fc
          .tuple(eventName, headerList)
          .map(([n, h]) => [['Event-Name', n] as [string, string], ...h]),
        body: value,
      },
      { requiredKeys: ['headers'] },
    ),
  }),
);

function serialize(m: Model): Buffer {
  let outer =
    `Content-Type: ${m.contentType}\n` + m.headers.map(([k, v]) => `${k}: ${urlEncode(v)}\n`).join('');
  let body: string | undefined = m.body;
  if (m.event !== undefined && m.contentType === 'text/event-plain') {
    const h = m.event.headers.map(([k, v]) => `${k}: ${urlEncode(v)}\n`).join('');
    const b = m.event.body;
    body = b === undefined ? `${h}\n` : `${h}Content-Length: ${Buffer.byteLength(b)}\n\n${b}`;
  } else if (m.event !== undefined) {
    body = JSON.stringify({
      ...Object.fromEntries(m.event.headers),
      ...(m.event.body === undefined ? {} : { _body: m.event.body }),
    });
  }
  if (body !== undefined) outer += `Content-Length: ${Buffer.byteLength(body)}\n`;
  return Buffer.from(`${outer}\n${body ?? ''}`, 'utf8');
}

describe('valid frames never desync', () => {
  it('random valid frames, chunked anywhere, come back exactly', () => {
    fc.assert(
      fc.property(
        fc.array(model, { minLength: 1, maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (models, points) => {
          const frames = feed(cut(Buffer.concat(models.map(serialize)), points));
          expect(frames).toHaveLength(models.length);
          models.forEach((m, i) => {
            const f = frames[i] as EslFrame;
            expect(f.contentType).toBe(m.contentType);
            for (const [k, v] of m.headers) expect(f.headers[k]).toBe(v);
            if (m.event === undefined) {
              expect(f.body).toBe(m.body);
              return;
            }
            const extra = m.contentType === 'text/event-plain' && m.event.body !== undefined ? 1 : 0;
            expect(Object.keys(f.event?.headers ?? {}).length).toBe(m.event.headers.length + extra);
            for (const [k, v] of m.event.headers) expect(f.event?.headers[k]).toBe(v);
            expect(f.event?.body).toBe(m.event.body);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('a bad frame fails only its own connection', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function open() {
    const pair = await socketPair();
    cleanups.push(pair.close);
    let closed: Error | undefined | null = null;
    const conn = new EslConnection(pair.near, {
      log: silentLog,
      commandTimeoutMs: 5000,
      parser: { maxFrameBytes: 64 * 1024 },
      handlers: { onEvent: () => undefined, onNotice: () => undefined, onClose: (r) => (closed = r) },
    });
    return { conn, far: pair.far, fs: new CommandReader(pair.far), closed: () => closed };
  }

  it('closes the connection that sent an oversized frame and keeps the other one working', async () => {
    const a = await open();
    const b = await open();
    const pendingA = a.conn.api('status');
    const pendingB = b.conn.api('status');
    await a.fs.next();
    await b.fs.next();
    a.far.write('Content-Type: api/response\nContent-Length: 99999999\n\n');
    await expect(pendingA).rejects.toMatchObject({ code: 'E_ESL_CLOSED' });
    expect(a.closed()).toMatchObject({ code: 'E_ESL_FRAME_TOO_LARGE' });
    b.far.write(apiResponse('UP\n'));
    expect(await pendingB).toBe('UP\n');
    const again = b.conn.api('status');
    await b.fs.next();
    b.far.write(apiResponse('still UP\n'));
    expect(await again).toBe('still UP\n');
  });
});
