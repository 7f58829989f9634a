import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EslParser, type EslFrame, type EslParserOptions } from '../../src/esl/parser.js';
import { fsChunks, recordingNames, refHeaderRecord, referenceSplit, type RefFrame } from './esl-support.js';

function parseChunks(chunks: Buffer[], options: EslParserOptions = {}): EslFrame[] {
  const parser = new EslParser(options);
  const frames: EslFrame[] = [];
  for (const c of chunks) parser.push(c, (f) => frames.push(f));
  expect(parser.bufferedBytes).toBe(0);
  return frames;
}

/** Plain objects, so frames from different runs compare with toEqual. */
function normalize(frames: EslFrame[]): unknown[] {
  return frames.map((f) => ({
    contentType: f.contentType,
    headers: { ...f.headers },
    body: f.body,
    event: f.event === undefined ? undefined : { ...f.event, headers: { ...f.event.headers } },
  }));
}

function expectMatchesReference(frame: EslFrame, ref: RefFrame): void {
  const outer = refHeaderRecord(ref.headers);
  expect({ ...frame.headers }).toEqual(outer);
  const body = ref.body ?? Buffer.alloc(0);
  if (outer['Content-Type'] === 'text/event-plain') {
    const end = body.indexOf('\n\n');
    const inner = referenceSplit(Buffer.concat([body.subarray(0, end + 2)]))[0] as RefFrame;
    const innerHeaders = refHeaderRecord(inner.headers);
    const len = innerHeaders['Content-Length'];
    expect(frame.event).toBeDefined();
    expect({ ...frame.event?.headers }).toEqual(innerHeaders);
    expect(frame.event?.eventName).toBe(innerHeaders['Event-Name']);
    const innerBody =
      len === undefined ? undefined : body.subarray(end + 2, end + 2 + Number(len)).toString('utf8');
    expect(frame.event?.body).toBe(innerBody);
    if (len !== undefined) expect(end + 2 + Number(len)).toBe(body.length);
  } else if (outer['Content-Type'] === 'text/event-json') {
    const obj = JSON.parse(body.toString('utf8')) as Record<string, string | string[]>;
    const { _body, ...rest } = obj;
    const expected = Object.fromEntries(
      Object.entries(rest).map(([k, v]) => [k, Array.isArray(v) ? `ARRAY::${v.join('|:')}` : v]),
    );
    expect({ ...frame.event?.headers }).toEqual(expected);
    expect(frame.event?.body).toBe(_body);
  } else {
    expect(frame.body).toBe(ref.body?.toString('utf8'));
  }
}

const streams = recordingNames().flatMap((name) =>
  [...fsChunks(name)].map(([conn, chunks]) => ({
    label: `${name} ${conn}`,
    chunks,
    bytes: Buffer.concat(chunks),
  })),
);

describe('EslParser on every fs->app stream of the real FreeSWITCH recordings', () => {
  it('has the recordings', () => {
    expect(streams.length).toBeGreaterThanOrEqual(15);
  });

  for (const { label, chunks, bytes } of streams) {
    it(`${label}: frames every message exactly, with the real chunk boundaries`, () => {
      const ref = referenceSplit(bytes);
      const frames = parseChunks(chunks, { keepRaw: true });
      expect(frames.length).toBe(ref.length);
      expect(Buffer.concat(frames.map((f) => f.raw ?? Buffer.alloc(0))).equals(bytes)).toBe(true);
      frames.forEach((f, i) => expectMatchesReference(f, ref[i] as RefFrame));
    });

    it(`${label}: gives the same frames however the stream is chunked`, () => {
      const whole = normalize(parseChunks([bytes]));
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 60 }),
          (cuts) => {
            const points = [0, ...cuts.sort((a, b) => a - b), bytes.length];
            const parts = points.slice(1).map((p, i) => bytes.subarray(points[i], p));
            expect(normalize(parseChunks(parts))).toEqual(whole);
          },
        ),
        { numRuns: 25 },
      );
    });
  }

  it('splits inside every multi-byte UTF-8 character and inside every blank line', () => {
    const target = streams.find((s) => s.label === 'inbound-event-encodings.jsonl esl-json');
    const plain = streams.find((s) => s.label === 'inbound-event-encodings.jsonl esl-plain');
    for (const s of [target, plain]) {
      if (s === undefined) throw new Error('recording missing');
      const whole = normalize(parseChunks([s.bytes]));
      let splits = 0;
      for (let i = 1; i < s.bytes.length; i++) {
        const b = s.bytes[i] as number;
        const inChar = b >= 0x80 && b < 0xc0;
        const inBlank = s.bytes[i - 1] === 0x0a && b === 0x0a;
        if (!inChar && !inBlank) continue;
        splits++;
        expect(normalize(parseChunks([s.bytes.subarray(0, i), s.bytes.subarray(i)]))).toEqual(whole);
      }
      expect(splits).toBeGreaterThan(10);
    }
  });

  it('survives one-byte chunks', () => {
    const s = streams.find((x) => x.label === 'outbound-socket-turn.jsonl outbound');
    if (s === undefined) throw new Error('recording missing');
    const bytes = [...s.bytes].map((b) => Buffer.from([b]));
    expect(normalize(parseChunks(bytes))).toEqual(normalize(parseChunks([s.bytes])));
  });
});
