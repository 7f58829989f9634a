import { describe, expect, it } from 'vitest';
import { EslError } from '../../src/core/errors.js';
import { headerValues, type EslEvent } from '../../src/esl/event.js';
import { EslParser, type EslFrame } from '../../src/esl/parser.js';
import { fsChunks } from './esl-support.js';

function parseAll(input: (string | Buffer)[], parser = new EslParser()): EslFrame[] {
  const frames: EslFrame[] = [];
  for (const c of input)
    parser.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : c, (f) => frames.push(f));
  return frames;
}

function eventsOf(recording: string, conn: string): EslEvent[] {
  const frames = parseAll(fsChunks(recording).get(conn) ?? []);
  return frames.flatMap((f) => (f.event === undefined ? [] : [f.event]));
}

describe('EslParser framing', () => {
  it('counts Content-Length in bytes, not characters', () => {
    const [f] = parseAll([
      'Content-Type: api/response\nContent-Length: 6\n\nZoë\n\n',
      'Content-Type: command/reply\nReply-Text: +OK\n\n',
    ]);
    expect(f?.body).toBe('Zoë\n\n');
  });

  it('accepts CRLF line ends', () => {
    const frames = parseAll([
      'Content-Type: api/response\r\nContent-Length: 3\r\n\r\n+OKContent-Type: command/reply\r\n',
      '\r\n',
    ]);
    expect(frames.map((f) => [f.contentType, f.body ?? f.headers['Reply-Text']])).toEqual([
      ['api/response', '+OK'],
      ['command/reply', undefined],
    ]);
  });

  it('finds a blank line split across chunks', () => {
    const frames = parseAll([
      'Content-Type: command/reply\nReply-Text: +OK\n',
      '\n',
      'Content-Type: command/reply\n',
      '\nX',
    ]);
    expect(frames).toHaveLength(2);
    expect(frames[0]?.headers['Reply-Text']).toBe('+OK');
  });

  it('holds nothing once frames are complete', () => {
    const parser = new EslParser();
    parseAll(['Content-Type: api/response\nContent-Length: 4\n\n+O'], parser);
    expect(parser.bufferedBytes).toBeGreaterThan(0);
    parseAll(['K\n'], parser);
    expect(parser.bufferedBytes).toBe(0);
  });

  it('parses the nested body of a text/event-plain CUSTOM event (sendevent recording)', () => {
    const ev = eventsOf('inbound-event-encodings.jsonl', 'esl-plain').find((e) => e.name === 'CUSTOM');
    expect(ev?.name === 'CUSTOM' && ev.subclass).toBe('voice_ai::test');
    expect(ev?.body).toBe('line one\nline two: 50% "quoted" & <tag> Zoë\n');
    expect(ev?.headers['X-Voice-Note']).toBe('50% off & more/less? Zoë');
    expect(ev?.headers['Content-Type']).toBe('text/plain');
  });

  it('reads the same CUSTOM event identically from plain and json', () => {
    const plain = eventsOf('inbound-event-encodings.jsonl', 'esl-plain').find((e) => e.name === 'CUSTOM');
    const json = eventsOf('inbound-event-encodings.jsonl', 'esl-json').find((e) => e.name === 'CUSTOM');
    expect({ ...json?.headers }).toEqual({ ...plain?.headers });
    expect(json?.body).toBe(plain?.body);
  });

  it('keeps JSON arrays in the ARRAY:: form of plain events', () => {
    const body = JSON.stringify({
      'Event-Name': 'CUSTOM',
      'Event-Subclass': 'x::y',
      X: ['a', 'b|c'],
      _body: 'hi',
    });
    const [f] = parseAll([
      `Content-Length: ${Buffer.byteLength(body)}\nContent-Type: text/event-json\n\n${body}`,
    ]);
    expect(f?.event?.headers['X']).toBe('ARRAY::a|:b|c');
    expect(headerValues(f?.event?.headers ?? {}, 'X')).toEqual(['a', 'b|c']);
    expect(f?.event?.body).toBe('hi');
  });

  it('decodes the URL-encoded connect reply (Reply-Text %2BOK%0A is "+OK\\n")', () => {
    const [f] = parseAll(fsChunks('outbound-socket-turn.jsonl').get('outbound')?.slice(0, 1) ?? []);
    expect(f?.contentType).toBe('command/reply');
    expect(f?.headers['Reply-Text']).toBe('+OK\n');
    expect(f?.headers['Event-Date-GMT']).toBe('Wed, 25 Nov 2026 03:00:19 GMT');
    expect(f?.headers['variable_current_application_data']).toBe('127.0.0.1:8084 async full');
  });

  it('frames disconnect notices, auth requests, log/data and rude rejections', () => {
    const frames = parseAll([
      'Content-Type: auth/request\n\n',
      'Content-Type: text/disconnect-notice\nControlled-Session-UUID: u\nContent-Disposition: linger\nLinger-Time: -1\nContent-Length: 0\n\n',
      'Content-Type: log/data\nContent-Length: 5\nLog-Level: 7\n\nhello',
      'Content-Type: text/rude-rejection\nContent-Length: 16\n\nAccess Denied!\n\n',
    ]);
    expect(frames.map((f) => [f.contentType, f.body])).toEqual([
      ['auth/request', undefined],
      ['text/disconnect-notice', ''],
      ['log/data', 'hello'],
      ['text/rude-rejection', 'Access Denied!\n\n'],
    ]);
  });
});

describe('EslParser limits', () => {
  it('fails a frame over maxFrameBytes as soon as its headers say so, after delivering the frames before it', () => {
    const parser = new EslParser({ maxFrameBytes: 1024 });
    const got: EslFrame[] = [];
    const push = (s: string): void => parser.push(Buffer.from(s), (f) => got.push(f));
    expect(() =>
      push(
        'Content-Type: command/reply\nReply-Text: +OK\n\nContent-Type: api/response\nContent-Length: 5000\n\n',
      ),
    ).toThrow(expect.objectContaining({ code: 'E_ESL_FRAME_TOO_LARGE' }));
    expect(got).toHaveLength(1);
    expect(() => push('Content-Type: command/reply\n\n')).toThrow(EslError);
  });

  it('fails a header block that never ends', () => {
    const parser = new EslParser({ maxHeaderBytes: 1000 });
    const line = Buffer.from('X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n');
    expect(() => {
      for (let i = 0; i < 100; i++) parser.push(line, () => undefined);
    }).toThrow(expect.objectContaining({ code: 'E_ESL_FRAME_TOO_LARGE' }));
  });

  it('fails an invalid Content-Length as a protocol error', () => {
    const parser = new EslParser();
    expect(() =>
      parser.push(Buffer.from('Content-Type: api/response\nContent-Length: -3\n\n'), () => undefined),
    ).toThrow(expect.objectContaining({ code: 'E_ESL_PROTOCOL' }));
  });

  it('accepts an 8 MiB body under the default cap', () => {
    const body = Buffer.alloc(8 * 1024 * 1024 - 100, 0x61);
    const head = Buffer.from(`Content-Type: api/response\nContent-Length: ${body.length}\n\n`);
    const frames = parseAll([head, body.subarray(0, 3_000_000), body.subarray(3_000_000)]);
    expect(frames[0]?.body?.length).toBe(body.length);
  });
});

describe('typed events from the recordings', () => {
  it('types execute, DTMF and hangup events (outbound-socket-turn)', () => {
    const events = eventsOf('outbound-socket-turn.jsonl', 'outbound');
    const done = events.find((e) => e.name === 'CHANNEL_EXECUTE_COMPLETE' && e.application === 'playback');
    expect(done).toMatchObject({
      applicationUuid: '2922aff8-369d-4a59-b882-d6feed164e54',
      applicationResponse: 'FILE PLAYED',
      applicationData: '/tmp/voice-ai/prompt.wav',
      uniqueId: '33b5929c-06e0-4ac7-bbd7-7c77d4a4610c',
    });
    expect(events.find((e) => e.name === 'DTMF')).toMatchObject({ digit: '1' });
    expect(events.find((e) => e.name === 'CHANNEL_HANGUP')).toMatchObject({ hangupCause: 'NORMAL_CLEARING' });
    expect(events.find((e) => e.name === 'OTHER')).toMatchObject({ eventName: 'CHANNEL_UNPARK' });
  });

  it('types BACKGROUND_JOB, PLAYBACK_* and CUSTOM (json recordings)', () => {
    const events = eventsOf('inbound-control.jsonl', 'esl');
    expect(events.find((e) => e.name === 'BACKGROUND_JOB')).toMatchObject({
      jobUuid: 'b6dcb5e2-a094-4aa9-b7b6-b360816413c2',
      jobCommand: 'uuid_exists',
      body: 'false',
    });
    const stops = events.filter((e) => e.name === 'PLAYBACK_STOP');
    expect(stops.map((e) => e.name === 'PLAYBACK_STOP' && e.playbackStatus)).toEqual(['break', 'done']);
    const custom = eventsOf('audio-stream.jsonl', 'esl').filter((e) => e.name === 'CUSTOM');
    expect(custom.map((e) => e.name === 'CUSTOM' && e.subclass)).toContain('mod_audio_stream::connect');
  });
});
