/**
 * A real WebSocket server on 127.0.0.1 (port 0) speaking the GA Realtime API the way a speech-only client
 * sees it: `session.created` on connect, `session.updated` echoing each `session.update`,
 * `conversation.item.added` for each item, and on `response.create` the scripted reply: audio (several
 * `response.output_audio.delta` chunks, then `response.output_audio.done` and `response.done`), an `error`
 * event (the socket stays open, as OpenAI's does), an abrupt close part-way through the audio, or nothing at
 * all (hang). The upgrade is refused with OpenAI's 401 body when the Authorization header is wrong.
 *
 *   const rt = await startFakeRealtime({ apiKey: FAKE_API_KEY });
 *   rt.script({ type: 'audio', durationMs: 300 });
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { mulawEncode } from '../../src/audio/g711.js';
import { pcmBytes, tone } from './openai-replies.js';

export type RealtimeReply =
  | { type: 'audio'; durationMs?: number; chunkBytes?: number; status?: 'completed' | 'incomplete' }
  | { type: 'error'; errorType?: string; code?: string; message?: string }
  | { type: 'failed'; errorType?: string; message?: string }
  | { type: 'close'; afterChunks?: number }
  | { type: 'hang' };

export interface RealtimeConnection {
  seq: number;
  /** Path and query of the upgrade request: `/v1/realtime?model=...`. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Client events in the order they arrived, parsed. */
  events: Record<string, unknown>[];
  /** The audio bytes the reply sent (in the session's output format), for byte-exact comparisons. */
  sentAudio: Buffer;
  /** Resolves when the socket has closed, whoever closed it. */
  closed: Promise<void>;
  /** The close code the server saw (1000 for a clean client close, 1006 when the client just dropped it). */
  closeCode: number | undefined;
}

export interface FakeRealtime {
  /** `http://127.0.0.1:PORT/v1`: the base_url a row uses (the adapter turns it into ws://). */
  readonly baseUrl: string;
  readonly connections: readonly RealtimeConnection[];
  /** Upgrade requests refused for a wrong key. */
  readonly refused: number;
  /** Queues replies to `response.create`, one per response, in order; the default is 200 ms of audio. */
  script(...replies: RealtimeReply[]): void;
  /** The next client event of `type` on any connection, from now on. */
  nextEvent(type: string): Promise<{ conn: RealtimeConnection; event: Record<string, unknown> }>;
  close(): Promise<void>;
}

/** The bytes an `audio` reply of `durationMs` sends in `format` (24 kHz PCM or 8 kHz mu-law). */
export function realtimeAudio(durationMs: number, format: 'pcm' | 'pcmu'): Buffer {
  return format === 'pcm' ? pcmBytes(tone(durationMs, 24_000)) : mulawEncode(tone(durationMs, 8000));
}

export async function startFakeRealtime(opts: { apiKey?: string } = {}): Promise<FakeRealtime> {
  const connections: RealtimeConnection[] = [];
  const replies: RealtimeReply[] = [];
  const waiters: {
    type: string;
    resolve: (v: { conn: RealtimeConnection; event: Record<string, unknown> }) => void;
  }[] = [];
  const sockets = new Set<Socket>();
  let refused = 0;
  const http = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'application/json' });
    res.end(
      '{"error":{"message":"upgrade required","type":"invalid_request_error","param":null,"code":null}}',
    );
  });
  http.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    if (opts.apiKey !== undefined && req.headers.authorization !== `Bearer ${opts.apiKey}`) {
      refused++;
      // OpenAI answers the upgrade with its REST error body; the key is echoed to prove the client scrubs it.
      const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
      const body = JSON.stringify({
        error: {
          message: `Incorrect API key provided: ${given}.`,
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `connection: close\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req.url ?? '', req.headers));
  });

  const accept = (ws: WebSocket, url: string, headers: IncomingHttpHeaders): void => {
    let markClosed = (): void => undefined;
    const conn: RealtimeConnection = {
      seq: connections.length + 1,
      url,
      headers,
      events: [],
      sentAudio: Buffer.alloc(0),
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      closeCode: undefined,
    };
    connections.push(conn);
    let format: 'pcm' | 'pcmu' = 'pcm';
    let n = 0;
    const send = (event: Record<string, unknown>): void => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ event_id: `event_${++n}`, ...event }));
    };
    ws.on('close', (code) => {
      conn.closeCode = code;
      markClosed();
    });
    ws.on('error', () => undefined);
    send({
      type: 'session.created',
      session: { type: 'realtime', model: 'fake', object: 'realtime.session' },
    });
    ws.on('message', (data) => {
      const event = JSON.parse((data as Buffer).toString('utf8')) as Record<string, unknown>;
      conn.events.push(event);
      for (const w of waiters.splice(0)) {
        if (w.type === event['type']) w.resolve({ conn, event });
        else waiters.push(w);
      }
      switch (event['type']) {
        case 'session.update': {
          const session = event['session'] as { audio?: { output?: { format?: { type?: string } } } };
          format = session.audio?.output?.format?.type === 'audio/pcmu' ? 'pcmu' : 'pcm';
          send({ type: 'session.updated', session });
          return;
        }
        case 'conversation.item.create':
          send({ type: 'conversation.item.added', item: { id: 'item_1', ...(event['item'] as object) } });
          return;
        case 'response.create':
          respond(replies.shift() ?? { type: 'audio', durationMs: 200 }, format, conn, ws, send);
          return;
        default:
          send({
            type: 'error',
            error: {
              type: 'invalid_request_error',
              code: 'invalid_event',
              message: 'unknown event',
              param: null,
            },
          });
      }
    });
  };

  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    connections,
    get refused() {
      return refused;
    },
    script(...more) {
      replies.push(...more);
    },
    nextEvent(type) {
      return new Promise((resolve) => waiters.push({ type, resolve }));
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const ws of wss.clients) ws.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
        http.close(() => resolve());
      });
      return closing;
    },
  };
}

function respond(
  reply: RealtimeReply,
  format: 'pcm' | 'pcmu',
  conn: RealtimeConnection,
  ws: WebSocket,
  send: (event: Record<string, unknown>) => void,
): void {
  const ids = { response_id: 'resp_1', item_id: 'item_2', output_index: 0, content_index: 0 };
  if (reply.type === 'hang') return;
  if (reply.type === 'error') {
    send({
      type: 'error',
      error: {
        type: reply.errorType ?? 'invalid_request_error',
        code: reply.code ?? 'invalid_value',
        message: reply.message ?? 'Invalid value',
        param: null,
        event_id: 'client_event_3',
      },
    });
    return;
  }
  send({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress', output: [] } });
  if (reply.type === 'failed') {
    const error = {
      type: reply.errorType ?? 'server_error',
      message: reply.message ?? 'The server had an error',
    };
    send({ type: 'response.done', response: { id: 'resp_1', status: 'failed', status_details: { error } } });
    return;
  }
  const audio = realtimeAudio(reply.type === 'audio' ? (reply.durationMs ?? 200) : 400, format);
  // Odd-sized chunks: a 16-bit sample split across two deltas must come out whole.
  const size = (reply.type === 'audio' ? reply.chunkBytes : undefined) ?? 4801;
  send({
    type: 'response.output_item.added',
    response_id: 'resp_1',
    output_index: 0,
    item: { id: 'item_2' },
  });
  for (let at = 0, i = 0; at < audio.length; at += size, i++) {
    if (reply.type === 'close' && i === (reply.afterChunks ?? 1)) {
      ws.terminate();
      return;
    }
    const chunk = audio.subarray(at, at + size);
    conn.sentAudio = Buffer.concat([conn.sentAudio, chunk]);
    send({ type: 'response.output_audio.delta', ...ids, delta: chunk.toString('base64') });
    send({ type: 'response.output_audio_transcript.delta', ...ids, delta: 'x' });
  }
  send({ type: 'response.output_audio.done', ...ids });
  const status = reply.type === 'audio' ? (reply.status ?? 'completed') : 'completed';
  send({
    type: 'response.done',
    response: { id: 'resp_1', status, output: [], usage: { total_tokens: 10 } },
  });
}
