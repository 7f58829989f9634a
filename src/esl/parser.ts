import { EslError } from '../core/errors.js';
import type { ByteBudget } from './budget.js';
import { decodeByteString, decodeBytes } from './decode.js';
import { createHeaders, jsonToHeaders, toEvent, type EslEvent, type EslHeaders } from './event.js';

export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;
export const DEFAULT_MAX_HEADER_BYTES = 1024 * 1024;

export interface EslParserOptions {
  /** Largest frame (header block + body) accepted; larger ones fail the connection. */
  maxFrameBytes?: number;
  /** Largest header block accepted (a CHANNEL_DATA connect reply is a few KiB). */
  maxHeaderBytes?: number;
  /** Keep a copy of each frame's exact bytes in `raw` (tests, tracing). */
  keepRaw?: boolean;
  /**
   * Shared allowance the buffer of an incomplete frame is charged to; when it is used up the parser fails
   * with E_ESL_BUFFER_BUDGET instead of growing.
   */
  budget?: ByteBudget;
}

/** One framed ESL message. */
export interface EslFrame {
  /** The outer Content-Type (`command/reply`, `api/response`, `text/event-plain`, ...), '' when absent. */
  readonly contentType: string;
  /** Outer headers, URL-decoded (the outbound `connect` reply carries the whole channel data here). */
  readonly headers: EslHeaders;
  /** The decoded body, for frames that are not plain/json events; undefined without Content-Length. */
  readonly body: string | undefined;
  /** The event of a text/event-plain or text/event-json frame; undefined when its body is not an event. */
  readonly event: EslEvent | undefined;
  /** The frame's exact bytes, only with `keepRaw`. */
  readonly raw?: Buffer;
}

interface PendingFrame {
  headers: EslHeaders;
  /** Offsets from the frame's first byte. */
  bodyOffset: number;
  bodyLength: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** Position just after the blank line that ends a header block in [from, limit), or -1 (and where to resume). */
function findHeaderEnd(view: Buffer, from: number): { next: number; resume: number } {
  let i = from;
  for (;;) {
    const nl = view.indexOf(LF, i);
    if (nl < 0) return { next: -1, resume: view.length };
    const b1 = nl + 1 < view.length ? view[nl + 1] : -1;
    if (b1 === LF) return { next: nl + 2, resume: 0 };
    if (b1 === CR) {
      const b2 = nl + 2 < view.length ? view[nl + 2] : -1;
      if (b2 === LF) return { next: nl + 3, resume: 0 };
      if (b2 === -1) return { next: -1, resume: nl };
    }
    if (b1 === -1) return { next: -1, resume: nl };
    i = nl + 1;
  }
}

/** `Name: value` lines (LF or CRLF) to decoded headers; lines without a colon are ignored. Linear time. */
export function parseHeaderBlock(view: Buffer, from: number, to: number): EslHeaders {
  const text = view.toString('latin1', from, to);
  const headers = createHeaders();
  const n = text.length;
  let pos = 0;
  let colon = -1;
  while (pos < n) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = n;
    if (colon < pos) {
      colon = text.indexOf(':', pos);
      if (colon < 0) colon = n;
    }
    if (colon < nl) {
      let lineEnd = nl;
      if (lineEnd > colon && text.charCodeAt(lineEnd - 1) === CR) lineEnd--;
      let vs = colon + 1;
      if (vs < lineEnd && text.charCodeAt(vs) === 0x20) vs++;
      headers[text.slice(pos, colon)] = decodeByteString(text.slice(vs, lineEnd));
    }
    pos = nl + 1;
  }
  return headers;
}

function contentLength(headers: EslHeaders): number | undefined {
  const v = headers['Content-Length'];
  if (v === undefined) return undefined;
  const t = v.trim();
  return /^\d{1,15}$/.test(t) ? Number(t) : -1;
}

/** A text/event-plain body: URL-encoded headers, a blank line, then an inner Content-Length body if any. */
function plainEvent(view: Buffer, from: number, to: number): EslEvent | undefined {
  const inner = view.subarray(0, to);
  const { next } = findHeaderEnd(inner, from);
  const headerEnd = next < 0 ? to : next;
  const headers = parseHeaderBlock(inner, from, headerEnd);
  if (headers['Event-Name'] === undefined) return undefined;
  const len = contentLength(headers);
  const body =
    len === undefined || len < 0
      ? undefined
      : decodeBytes(inner.subarray(headerEnd, Math.min(to, headerEnd + len)));
  return toEvent(headers, body);
}

function jsonEvent(view: Buffer, from: number, to: number): EslEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(decodeBytes(view.subarray(from, to)));
  } catch {
    return undefined;
  }
  const parsed = jsonToHeaders(value);
  return parsed === undefined ? undefined : toEvent(parsed.headers, parsed.body);
}

/**
 * Incremental, byte-accurate ESL framer. Chunks may split anywhere; bytes are copied once into a buffer that
 * grows only while a frame is incomplete and is dropped when empty, so idle connections hold nothing.
 */
export class EslParser {
  private readonly maxFrameBytes: number;
  private readonly maxHeaderBytes: number;
  private readonly keepRaw: boolean;
  private readonly budget: ByteBudget | undefined;
  /** Capacity of `buf` charged to the budget. */
  private charged = 0;
  private buf: Buffer | undefined;
  private start = 0;
  private end = 0;
  /** Offset from the frame start where the search for the blank line resumes. */
  private scanOffset = 0;
  private pending: PendingFrame | undefined;
  private failure: EslError | undefined;

  constructor(options: EslParserOptions = {}) {
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.maxHeaderBytes = Math.min(options.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES, this.maxFrameBytes);
    this.keepRaw = options.keepRaw ?? false;
    this.budget = options.budget;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.end - this.start;
  }

  /** Bytes of buffer capacity held (what the budget is charged). */
  get retainedBytes(): number {
    return this.charged;
  }

  /**
   * Feeds one chunk; calls `onFrame` for every frame it completes (onFrame must not throw). Throws EslError
   * (E_ESL_FRAME_TOO_LARGE, E_ESL_BUFFER_BUDGET or E_ESL_PROTOCOL) after delivering the frames before the
   * bad one; the parser then stays failed.
   */
  push(chunk: Buffer, onFrame: (frame: EslFrame) => void): void {
    if (this.failure !== undefined) throw this.failure;
    const frames: EslFrame[] = [];
    if (this.start === this.end) {
      const used = this.parse(chunk, 0, chunk.length, frames);
      if (used < chunk.length && this.failure === undefined) this.append(chunk.subarray(used));
    } else if (this.append(chunk)) {
      const buf = this.buf as Buffer;
      this.start = this.parse(buf, this.start, this.end, frames);
      if (this.start === this.end) this.release();
    }
    const failure = this.failure as EslError | undefined;
    if (failure !== undefined) this.release();
    for (const f of frames) onFrame(f);
    if (failure !== undefined) throw failure;
  }

  /** Drops what is held for an incomplete frame and returns its charge (the connection closed). */
  dispose(): void {
    this.pending = undefined;
    this.scanOffset = 0;
    this.release();
  }

  private release(): void {
    this.buf = undefined;
    this.start = 0;
    this.end = 0;
    this.budget?.release(this.charged);
    this.charged = 0;
  }

  /** Charges a buffer of `capacity` bytes in place of the current one; false when the budget refuses. */
  private charge(capacity: number): boolean {
    const extra = capacity - this.charged;
    if (this.budget !== undefined && extra > 0 && !this.budget.tryReserve(extra)) return false;
    if (extra < 0) this.budget?.release(-extra);
    this.charged = capacity;
    return true;
  }

  /** Allocates `preferred` bytes, or only `need` when the budget cannot spare more; undefined when neither. */
  private allocate(preferred: number, need: number): Buffer | undefined {
    const size = this.charge(preferred) ? preferred : this.charge(need) ? need : undefined;
    if (size === undefined) {
      this.fail('E_ESL_BUFFER_BUDGET', 'ESL buffer budget of the server used up');
      return undefined;
    }
    return Buffer.allocUnsafe(size);
  }

  /** Copies `src` after the held bytes; false (and the parser failed) when the budget refuses the room. */
  private append(src: Buffer): boolean {
    const len = this.end - this.start;
    if (this.buf === undefined) {
      const buf = this.allocate(Math.max(src.length, 4096), src.length);
      if (buf === undefined) return false;
      this.buf = buf;
      this.start = 0;
      this.end = 0;
    } else if (this.end + src.length > this.buf.length) {
      const need = len + src.length;
      if (need <= this.buf.length) {
        this.buf.copyWithin(0, this.start, this.end);
      } else {
        const grown = this.allocate(
          Math.max(need, Math.min(this.buf.length * 2, this.maxFrameBytes + 65536)),
          need,
        );
        if (grown === undefined) return false;
        this.buf.copy(grown, 0, this.start, this.end);
        this.buf = grown;
      }
      this.start = 0;
      this.end = len;
    }
    src.copy(this.buf, this.end);
    this.end += src.length;
    return true;
  }

  private fail(
    code: 'E_ESL_FRAME_TOO_LARGE' | 'E_ESL_BUFFER_BUDGET' | 'E_ESL_PROTOCOL',
    message: string,
  ): void {
    this.failure = new EslError(code, message);
  }

  /** Frames what it can from data[p, limit); returns where the first incomplete frame starts. */
  private parse(data: Buffer, p: number, limit: number, out: EslFrame[]): number {
    const view = data.subarray(0, limit);
    while (p < limit) {
      let pending = this.pending;
      if (pending === undefined) {
        if (this.scanOffset === 0) {
          while (p < limit && (view[p] === LF || view[p] === CR)) p++;
          if (p === limit) break;
        }
        const { next, resume } = findHeaderEnd(view, p + this.scanOffset);
        if (next < 0) {
          this.scanOffset = resume - p;
          if (limit - p > this.maxHeaderBytes)
            this.fail('E_ESL_FRAME_TOO_LARGE', `ESL header block over ${this.maxHeaderBytes} bytes`);
          break;
        }
        this.scanOffset = 0;
        const headerBytes = next - p;
        if (headerBytes > this.maxHeaderBytes) {
          this.fail(
            'E_ESL_FRAME_TOO_LARGE',
            `ESL header block of ${headerBytes} bytes over ${this.maxHeaderBytes}`,
          );
          break;
        }
        const headers = parseHeaderBlock(view, p, next);
        const len = contentLength(headers) ?? 0;
        if (len < 0) {
          this.fail('E_ESL_PROTOCOL', 'ESL frame with an invalid Content-Length');
          break;
        }
        if (headerBytes + len > this.maxFrameBytes) {
          this.fail(
            'E_ESL_FRAME_TOO_LARGE',
            `ESL frame of ${headerBytes + len} bytes over ${this.maxFrameBytes}`,
          );
          break;
        }
        pending = { headers, bodyOffset: headerBytes, bodyLength: len };
      }
      const frameEnd = p + pending.bodyOffset + pending.bodyLength;
      if (frameEnd > limit) {
        this.pending = pending;
        break;
      }
      this.pending = undefined;
      out.push(this.frame(view, p, pending));
      p = frameEnd;
    }
    return p;
  }

  private frame(view: Buffer, p: number, pending: PendingFrame): EslFrame {
    const { headers, bodyOffset, bodyLength } = pending;
    const from = p + bodyOffset;
    const to = from + bodyLength;
    const contentType = headers['Content-Type'] ?? '';
    let event: EslEvent | undefined;
    let body: string | undefined;
    if (contentType === 'text/event-plain') event = plainEvent(view, from, to);
    else if (contentType === 'text/event-json') event = jsonEvent(view, from, to);
    if (event === undefined && headers['Content-Length'] !== undefined)
      body = decodeBytes(view.subarray(from, to));
    const frame: EslFrame = { contentType, headers, body, event };
    return this.keepRaw ? { ...frame, raw: Buffer.from(view.subarray(p, to)) } : frame;
  }
}
