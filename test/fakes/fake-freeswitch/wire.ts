/**
 * Byte-level ESL encoding for the fake FreeSWITCH: its own framing and serializers, written from
 * mod_event_socket.c / switch_event.c behaviour and the recordings, independent of src/esl.
 */

/** A header value: text, or raw bytes that need not be UTF-8 (a Latin-1 caller name from a trunk). */
export type HeaderValue = string | Buffer;

export interface FsEvent {
  /** Header list in wire order; names may repeat (a `sendevent` can carry a second Content-Length). */
  headers: Array<[string, HeaderValue]>;
  body?: Buffer | undefined;
}

export type EventFormat = 'plain' | 'json' | 'xml';

export function toBytes(value: HeaderValue): Buffer {
  return typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
}

export function headerOf(event: FsEvent, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of event.headers) if (n.toLowerCase() === lower) return toBytes(v).toString('utf8');
  return undefined;
}

const HEX = '0123456789ABCDEF';
const URL_UNSAFE = new Set(Array.from('\r\n "#%&+:;<=>?@[\\]^`{|}', (c) => c.charCodeAt(0)));

function isUpperHex(byte: number | undefined): boolean {
  return byte !== undefined && HEX.includes(String.fromCharCode(byte));
}

/**
 * switch_url_encode: %XX (uppercase) for bytes below 0x20 or above 0x7E and for the unsafe set; a '%'
 * already followed by two uppercase hex digits is copied as is (FreeSWITCH never double-encodes).
 */
export function urlEncode(value: HeaderValue): string {
  const bytes = toBytes(value);
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i] as number;
    const alreadyEncoded = b === 0x25 && isUpperHex(bytes[i + 1]) && isUpperHex(bytes[i + 2]);
    if (!alreadyEncoded && (b < 0x20 || b > 0x7e || URL_UNSAFE.has(b))) {
      out += '%' + HEX[b >> 4] + HEX[b & 15];
    } else {
      out += String.fromCharCode(b);
    }
  }
  return out;
}

/** cJSON string escaping on raw bytes: bytes >= 0x80 stay raw (so non-UTF-8 input stays non-UTF-8). */
export function jsonString(value: HeaderValue): Buffer {
  const bytes = toBytes(value);
  const out: number[] = [0x22];
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) out.push(0x5c, b);
    else if (b === 0x08) out.push(0x5c, 0x62);
    else if (b === 0x0c) out.push(0x5c, 0x66);
    else if (b === 0x0a) out.push(0x5c, 0x6e);
    else if (b === 0x0d) out.push(0x5c, 0x72);
    else if (b === 0x09) out.push(0x5c, 0x74);
    else if (b < 0x20) for (const c of Buffer.from('\\u' + b.toString(16).padStart(4, '0'))) out.push(c);
    else out.push(b);
  }
  out.push(0x22);
  return Buffer.from(out);
}

/** switch_event_serialize: URL-encoded values; a body adds `Content-Length` and follows a blank line. */
export function serializePlain(event: FsEvent): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of event.headers) parts.push(Buffer.from(`${name}: ${urlEncode(value)}\n`));
  if (event.body && event.body.length > 0) {
    parts.push(Buffer.from(`Content-Length: ${event.body.length}\n\n`), event.body);
  } else {
    parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** switch_event_serialize_json: one object, string values, duplicate keys kept, body last as `_body`. */
export function serializeJson(event: FsEvent): Buffer {
  const parts: Buffer[] = [Buffer.from('{')];
  let first = true;
  const add = (name: string, value: HeaderValue): void => {
    if (!first) parts.push(Buffer.from(','));
    first = false;
    parts.push(jsonString(name), Buffer.from(':'), jsonString(value));
  };
  for (const [name, value] of event.headers) add(name, value);
  if (event.body && event.body.length > 0) {
    add('Content-Length', String(event.body.length));
    add('_body', event.body);
  }
  parts.push(Buffer.from('}'));
  return Buffer.concat(parts);
}

/** XML text escaping as switch_xml_toxml does it: entities, non-ASCII as hex character references. */
function xmlEscape(text: string): string {
  let out = '';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '&') out += '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (cp > 0x7e) out += `&#x${cp.toString(16).toUpperCase()};`;
    else out += ch;
  }
  return out;
}

/** switch_event_xmlize + switch_xml_toxml, in the layout of the recordings. */
export function serializeXml(event: FsEvent): Buffer {
  let xml = '<event>\n  <headers>\n';
  for (const [name, value] of event.headers) xml += `    <${name}>${urlEncode(value)}</${name}>\n`;
  xml += '  </headers>\n';
  if (event.body && event.body.length > 0) {
    const text = event.body.toString('utf8');
    xml += `  <Content-Length>${event.body.length}</Content-Length>\n`;
    xml += `  <body>${xmlEscape(text)}${text.endsWith('\n') ? '  ' : ''}</body>\n`;
  }
  xml += '</event>\n';
  return Buffer.from(xml, 'utf8');
}

/** One event frame: `Content-Length` first, then `Content-Type: text/event-<fmt>`, as FreeSWITCH writes it. */
export function eventFrame(event: FsEvent, format: EventFormat): Buffer {
  const body =
    format === 'json' ? serializeJson(event) : format === 'xml' ? serializeXml(event) : serializePlain(event);
  return Buffer.concat([
    Buffer.from(`Content-Length: ${body.length}\nContent-Type: text/event-${format}\n\n`),
    body,
  ]);
}

export function commandReply(replyText: string): Buffer {
  return Buffer.from(`Content-Type: command/reply\nReply-Text: ${replyText}\n\n`);
}

/** The bgapi reply: its Job-UUID is repeated as a header. */
export function bgapiReply(jobUuid: string): Buffer {
  return Buffer.from(
    `Content-Type: command/reply\nReply-Text: +OK Job-UUID: ${jobUuid}\nJob-UUID: ${jobUuid}\n\n`,
  );
}

/** api/response; an empty output becomes `-ERR no reply\n` as in api_exec. */
export function apiResponse(output: string): Buffer {
  const body = Buffer.from(output.length === 0 ? '-ERR no reply\n' : output, 'utf8');
  return Buffer.concat([Buffer.from(`Content-Type: api/response\nContent-Length: ${body.length}\n\n`), body]);
}

export const GOODBYE = 'Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n';

/** send_disconnect: with a controlled session it names it and says `Content-Disposition: disconnect`. */
export function disconnectNotice(sessionUuid?: string, message: string = GOODBYE): Buffer {
  const body = Buffer.from(message, 'utf8');
  const head =
    sessionUuid === undefined
      ? `Content-Type: text/disconnect-notice\nContent-Length: ${body.length}\n\n`
      : `Content-Type: text/disconnect-notice\nControlled-Session-UUID: ${sessionUuid}\n` +
        `Content-Disposition: disconnect\nContent-Length: ${body.length}\n\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

export function lingerNotice(sessionUuid: string, channelName: string, lingerSeconds: number): Buffer {
  return Buffer.from(
    `Content-Type: text/disconnect-notice\nControlled-Session-UUID: ${sessionUuid}\n` +
      `Content-Disposition: linger\nChannel-Name: ${channelName}\nLinger-Time: ${lingerSeconds}\n` +
      'Content-Length: 0\n\n',
  );
}

/** A command as the client sent it: first line, `Name: value` headers, optional Content-Length body. */
export interface ClientCommand {
  line: string;
  headers: Array<[string, string]>;
  body?: Buffer | undefined;
}

export function commandHeader(cmd: ClientCommand, name: string): string | undefined {
  const lower = name.toLowerCase();
  return cmd.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

/**
 * Frames the client-to-FreeSWITCH byte stream like read_packet: leading blank lines are skipped, a message
 * ends at two line feeds (carriage returns ignored), a `Content-Length` header pulls that many body bytes.
 */
export class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private pendingHead: { line: string; headers: Array<[string, string]>; need: number } | undefined;

  push(chunk: Buffer): ClientCommand[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: ClientCommand[] = [];
    for (;;) {
      if (this.pendingHead) {
        if (this.buf.length < this.pendingHead.need) break;
        const body = this.buf.subarray(0, this.pendingHead.need);
        this.buf = this.buf.subarray(this.pendingHead.need);
        out.push({ line: this.pendingHead.line, headers: this.pendingHead.headers, body: Buffer.from(body) });
        this.pendingHead = undefined;
        continue;
      }
      let start = 0;
      while (start < this.buf.length && (this.buf[start] === 0x0a || this.buf[start] === 0x0d)) start++;
      this.buf = this.buf.subarray(start);
      const end = findHeadEnd(this.buf);
      if (end < 0) break;
      const head = this.buf.subarray(0, end).toString('utf8');
      this.buf = this.buf.subarray(end + 1);
      const lines = head.split('\n').map((l) => l.replace(/\r/g, ''));
      const line = lines.shift() ?? '';
      const headers: Array<[string, string]> = [];
      for (const l of lines) {
        if (l.length === 0) continue;
        const colon = l.indexOf(':');
        if (colon < 0) continue;
        headers.push([l.slice(0, colon), l.slice(colon + 1).replace(/^ +/, '')]);
      }
      const cl = headers.find(([n]) => n.toLowerCase() === 'content-length');
      const need = cl ? Number.parseInt(cl[1], 10) : 0;
      if (need > 0) this.pendingHead = { line, headers, need };
      else out.push({ line, headers });
    }
    return out;
  }
}

/** Index of the second of two line feeds separated only by carriage returns, or -1. */
function findHeadEnd(buf: Buffer): number {
  let lf = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === 0x0a) {
      lf++;
      if (lf === 2) return i;
    } else if (b !== 0x0d) {
      lf = 0;
    }
  }
  return -1;
}
