/**
 * Server-sent events, per the WHATWG event-stream grammar: lines end in CRLF, LF or CR; `:` starts a comment;
 * several `data:` lines join with '\n'; a blank line dispatches. Network chunks may split anything, even a
 * UTF-8 sequence or a CRLF pair, so the decoder keeps what it has not finished.
 */
export interface SseEvent {
  /** 'message' unless the server named it. */
  event: string;
  data: string;
  id?: string;
}

export class SseDecoder {
  private readonly text = new TextDecoder('utf-8');
  private pending = '';
  /** A chunk ended in CR: a LF at the start of the next one belongs to the same line break. */
  private skipLf = false;
  private data: string[] = [];
  private event = '';
  private id: string | undefined;

  /** Feeds bytes (or text); returns the events completed by them. */
  push(chunk: Uint8Array | string): SseEvent[] {
    let text = typeof chunk === 'string' ? chunk : this.text.decode(chunk, { stream: true });
    if (this.skipLf && text.length > 0) {
      if (text.startsWith('\n')) text = text.slice(1);
      this.skipLf = false;
    }
    const out: SseEvent[] = [];
    let buf = this.pending + text;
    let start = 0;
    for (let i = 0; i < buf.length; i++) {
      const c = buf.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      this.line(buf.slice(start, i), out);
      if (c === 13) {
        if (i + 1 < buf.length) {
          if (buf.charCodeAt(i + 1) === 10) i++;
        } else {
          this.skipLf = true;
        }
      }
      start = i + 1;
    }
    buf = buf.slice(start);
    this.pending = buf;
    return out;
  }

  /**
   * Ends the stream. An unterminated last event is dispatched rather than dropped (the spec drops it),
   * because some OpenAI-compatible servers close right after their last `data:` line.
   */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const tail = this.pending + this.text.decode();
    this.pending = '';
    if (tail !== '') this.line(tail, out);
    this.line('', out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) {
        out.push({ event: this.event || 'message', data: this.data.join('\n'), ...this.idField() });
      }
      this.data = [];
      this.event = '';
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    // 'retry' and unknown fields are ignored: reconnection is the retry wrapper's business, not the parser's.
  }

  private idField(): { id?: string } {
    return this.id === undefined ? {} : { id: this.id };
  }
}

/** Events from a byte stream, including an unterminated last one. */
export async function* readSse(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new SseDecoder();
  for await (const chunk of chunks) yield* decoder.push(chunk);
  yield* decoder.end();
}
