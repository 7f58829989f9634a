import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SseDecoder, readSse, type SseEvent } from '../../src/providers/transport/sse.js';

const enc = new TextEncoder();

function decodeAll(chunks: readonly (string | Uint8Array)[]): SseEvent[] {
  const d = new SseDecoder();
  const out: SseEvent[] = [];
  for (const c of chunks) out.push(...d.push(c));
  out.push(...d.end());
  return out;
}

/** A recorded OpenAI stream with the awkward bits: multi-byte UTF-8, CRLF, comments, multi-line data. */
const RECORDED = [
  ': connected\n\n',
  'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n',
  'data: {"choices":[{"index":0,"delta":{"content":"Olá, "}}]}\r\n\r\n',
  'data: {"choices":[{"index":0,"delta":{"content":"não há 🙂 "}}]}\r\r',
  'event: error\ndata: {"error":\ndata: {"message":"x"}}\nid: 7\n\n',
  'data:no-space\n\n',
  'data: [DONE]\n\n',
].join('');

describe('SseDecoder', () => {
  it('parses events, comments, named events, multi-line data and ids', () => {
    const events = decodeAll([RECORDED]);
    expect(events.map((e) => e.data)).toEqual([
      '{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}',
      '{"choices":[{"index":0,"delta":{"content":"Olá, "}}]}',
      '{"choices":[{"index":0,"delta":{"content":"não há 🙂 "}}]}',
      '{"error":\n{"message":"x"}}',
      'no-space',
      '[DONE]',
    ]);
    expect(events[3]).toMatchObject({ event: 'error', id: '7' });
    expect(events[0]?.event).toBe('message');
  });

  it('ignores blank lines with no data and unknown fields', () => {
    expect(decodeAll(['\n\n\nretry: 1000\nfoo: bar\n\n', 'data: a\n\n'])).toEqual([
      { event: 'message', data: 'a' },
    ]);
  });

  it('treats a CR at the end of a chunk and a LF at the start of the next as one line break', () => {
    expect(decodeAll(['data: a\r', '\n\r', '\ndata: b\n\n'])).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
    ]);
  });

  it('dispatches an unterminated last event at the end of the stream', () => {
    expect(decodeAll(['data: {"x":1}\n'])).toEqual([{ event: 'message', data: '{"x":1}' }]);
    expect(decodeAll(['data: {"x":2}'])).toEqual([{ event: 'message', data: '{"x":2}' }]);
  });

  it('yields the same events however the bytes are split (even inside UTF-8 sequences and CRLF)', () => {
    const bytes = enc.encode(RECORDED);
    const whole = decodeAll([bytes]);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }),
        (cuts) => {
          const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
          const chunks = points.slice(1).map((end, i) => bytes.subarray(points[i], end));
          expect(decodeAll(chunks)).toEqual(whole);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('readSse reads an async byte stream', async () => {
    async function* body(): AsyncGenerator<Uint8Array> {
      yield enc.encode('data: one\n');
      yield enc.encode('\ndata: two\n\n');
    }
    const events: SseEvent[] = [];
    for await (const e of readSse(body())) events.push(e);
    expect(events.map((e) => e.data)).toEqual(['one', 'two']);
  });
});
