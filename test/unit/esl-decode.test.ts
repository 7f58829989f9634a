import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChannelData } from '../../src/esl/channel-data.js';
import { decodeBytes, urlDecode, urlEncode } from '../../src/esl/decode.js';
import { EslParser, type EslFrame } from '../../src/esl/parser.js';
import { fsChunks } from './esl-support.js';

/** The recorded CHANNEL_DATA connect reply with the caller name a Latin-1 trunk sends. */
function latin1ConnectReply(): Buffer {
  const first = fsChunks('outbound-socket-turn.jsonl').get('outbound')?.[0];
  if (first === undefined) throw new Error('recording missing');
  const text = first
    .toString('latin1')
    .replace('Caller-Caller-ID-Name: Alice\n', 'Caller-Caller-ID-Name: Jo%E3o\n');
  expect(text).toContain('Jo%E3o');
  return Buffer.from(text, 'latin1');
}

describe('URL decoding (regression: modesl 1.2.1 dies with URIError on Jo%E3o)', () => {
  it('is the input that crashes decodeURIComponent, hence modesl', () => {
    expect(() => decodeURIComponent('Jo%E3o')).toThrow(URIError);
  });

  it('reads non-UTF-8 bytes as Latin-1: Jo%E3o -> João', () => {
    expect(urlDecode('Jo%E3o')).toBe('João');
    expect(urlDecode('Jos%E9%20da%20Concei%E7%E3o')).toBe('José da Conceição');
  });

  it('reads valid UTF-8 as UTF-8', () => {
    expect(urlDecode('Zo%C3%AB%20%C3%9Cn%C3%AFcode')).toBe('Zoë Ünïcode');
    expect(urlDecode('%E2%82%AC')).toBe('€');
  });

  it('keeps invalid escapes and never throws', () => {
    expect(urlDecode('%FF%FE')).toBe('ÿþ');
    expect(urlDecode('%')).toBe('%');
    expect(urlDecode('50%')).toBe('50%');
    expect(urlDecode('a%2')).toBe('a%2');
    expect(urlDecode('%ZZ')).toBe('%ZZ');
    expect(urlDecode('%G0%0g')).toBe('%G0%0g');
    expect(urlDecode('%e3')).toBe('ã');
  });

  it('does not read + as a space (FreeSWITCH encodes space as %20 and + as %2B)', () => {
    expect(urlDecode('+OK')).toBe('+OK');
    expect(urlDecode('%2BOK%0A')).toBe('+OK\n');
    expect(urlDecode('a%20b')).toBe('a b');
  });

  it('round-trips FreeSWITCH encoding of any string, and never throws on any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        expect(urlDecode(urlEncode(s))).toBe(s);
      }),
    );
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => typeof urlDecode(s) === 'string'));
    fc.assert(fc.property(fc.uint8Array(), (b) => typeof decodeBytes(b) === 'string'));
  });

  it('parses a connect reply with Caller-Caller-ID-Name: Jo%E3o without crashing', () => {
    const frames: EslFrame[] = [];
    new EslParser().push(latin1ConnectReply(), (f) => frames.push(f));
    const channel = parseChannelData(frames[0]?.headers ?? {});
    expect(channel.callerIdName).toBe('João');
    expect(channel.callerIdNumber).toBe('15551230001');
  });

  it('parses a plain event with invalid sequences in values', () => {
    const inner =
      'Event-Name: CHANNEL_ANSWER\nUnique-ID: u1\nCaller-Caller-ID-Name: Jo%E3o\nX-A: %FF%FE\nX-B: %\nX-C: %ZZ\nX-D: 100%\n\n';
    const frame = `Content-Length: ${Buffer.byteLength(inner)}\nContent-Type: text/event-plain\n\n${inner}`;
    const frames: EslFrame[] = [];
    new EslParser().push(Buffer.from(frame), (f) => frames.push(f));
    expect(frames[0]?.event?.headers).toMatchObject({
      'Caller-Caller-ID-Name': 'João',
      'X-A': 'ÿþ',
      'X-B': '%',
      'X-C': '%ZZ',
      'X-D': '100%',
    });
  });
});
