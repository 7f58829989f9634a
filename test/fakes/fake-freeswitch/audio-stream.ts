/**
 * mod_audio_stream (amigniter, community edition): the `uuid_audio_stream` api and the WebSocket client
 * that streams the caller's audio as 20 ms L16 frames, with its CUSTOM events and reply texts.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { CallControl, Hub } from './hub.js';
import { resample } from './wav.js';

const OK = '+OK Success\n';
const FAIL = '-ERR Operation Failed\n';
const USAGE =
  '-USAGE: <uuid> [start | stop | send_text | pause | resume | graceful-shutdown ] [wss-url | path] ' +
  '[mono | mixed | stereo] [8000 | 16000] [metadata]\n';

const EXT: Record<string, string> = { wav: 'wav', mp3: 'mp3', ogg: 'ogg', pcmu: 'pcmu', pcma: 'pcma' };

/** Splits like switch_separate_string with at most `max` fields: the last keeps the rest of the line. */
function splitMax(line: string, max: number): string[] {
  const out: string[] = [];
  let rest = line.trim();
  while (rest.length > 0 && out.length < max - 1) {
    const sp = rest.indexOf(' ');
    if (sp < 0) break;
    out.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1).replace(/^ +/, '');
  }
  if (rest.length > 0) out.push(rest);
  return out;
}

function rawToString(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function firstWord(text: string | undefined): string | undefined {
  return text?.split(' ')[0];
}

export async function audioStreamApi(
  hub: Hub,
  call: CallControl | undefined,
  argLine: string,
): Promise<string> {
  const [, action, url, mix, rate, metadata] = splitMax(argLine, 6);
  if (action === undefined) return USAGE;
  if (!call || !call.isUp()) return FAIL;
  const slot = call.audioStream;
  const stream = slot.current instanceof AudioStream ? slot.current : undefined;
  switch (action) {
    case 'start': {
      if (url === undefined || mix === undefined || rate === undefined) return USAGE;
      if (!/^wss?:\/\//.test(url)) return FAIL;
      if (!['mono', 'mixed', 'stereo'].includes(mix)) return '';
      const rateHz = rate === '8k' ? 8000 : rate === '16k' ? 16000 : Number.parseInt(rate, 10);
      if (!(rateHz > 0) || rateHz % 8000 !== 0) return FAIL;
      if (slot.current) return FAIL;
      slot.current = new AudioStream(hub, call, url, mix, rateHz, metadata);
      return OK;
    }
    case 'stop':
    case 'graceful-shutdown':
      if (!stream) return FAIL;
      await stream.stop(firstWord(url));
      return OK;
    case 'send_text':
      if (!stream || !stream.sendText(firstWord(url) ?? '')) return FAIL;
      return OK;
    case 'pause':
    case 'resume':
      if (!stream) return FAIL;
      stream.paused = action === 'pause';
      return OK;
    default:
      return USAGE;
  }
}

class AudioStream {
  paused = false;
  private readonly ws: WebSocket;
  private open = false;
  private closingByUs = false;
  private fileCount = 0;
  private readonly files: string[] = [];
  private cancelClock: (() => void) | undefined;
  private clockStart = 0;
  private framesSent = 0;

  constructor(
    private readonly hub: Hub,
    private readonly call: CallControl,
    url: string,
    private readonly mix: string,
    private readonly rateHz: number,
    metadata: string | undefined,
  ) {
    this.ws = new WebSocket(url, { perMessageDeflate: false });
    this.ws.on('open', () => {
      this.open = true;
      if (metadata !== undefined) this.ws.send(metadata);
      call.emitCustomEvent('mod_audio_stream::connect', '{"status":"connected"}');
      this.clockStart = performance.now();
      this.tick();
    });
    this.ws.on('error', (err: NodeJS.ErrnoException) => {
      if (this.open) return;
      const detail = err.code === 'ECONNREFUSED' ? 'Connection refused (system error 111)' : err.message;
      call.emitCustomEvent(
        'mod_audio_stream::error',
        JSON.stringify({ status: 'error', message: { code: 6, error: detail } }),
      );
      this.detach();
    });
    this.ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
      if (!isBinary) this.onText(rawToString(data));
    });
    this.ws.on('close', (code: number, reason: Buffer) => {
      this.stopClock();
      const wasOpen = this.open;
      this.open = false;
      if (wasOpen && !this.closingByUs && this.call.isUp()) {
        const message = { status: 'disconnected', message: { code, reason: reason.toString('utf8') } };
        call.emitCustomEvent('mod_audio_stream::disconnect', JSON.stringify(message));
      }
    });
  }

  /** Frames the channel reads while a record runs (the media bug sees every read frame). */
  sendFrame(samples: Int16Array): void {
    if (!this.open || this.paused) return;
    const frame = resample(samples, this.call.rateHz, this.rateHz);
    const channels = this.mix === 'stereo' ? 2 : 1;
    const buf = Buffer.alloc(frame.length * 2 * channels);
    for (let i = 0; i < frame.length; i++) buf.writeInt16LE(frame[i] as number, i * 2 * channels);
    this.ws.send(buf, { binary: true });
  }

  /** The stream's own 20 ms clock when no record reads the channel. */
  private tick(): void {
    if (!this.open) return;
    const due = Math.floor(((performance.now() - this.clockStart) * this.hub.speed) / 20);
    while (this.framesSent < due) {
      this.framesSent++;
      const frame = this.call.pullStreamFrame();
      if (frame) this.sendFrame(frame);
    }
    this.cancelClock = this.hub.timers.set(20 / this.hub.speed, () => this.tick());
  }

  private stopClock(): void {
    this.cancelClock?.();
    this.cancelClock = undefined;
  }

  private onText(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const msg = parsed as { type?: unknown; data?: Record<string, unknown> } | undefined;
    if (msg && msg.type === 'streamAudio' && msg.data && typeof msg.data.audioData === 'string') {
      const { audioData, ...rest } = msg.data;
      const type = typeof rest.audioDataType === 'string' ? rest.audioDataType : 'raw';
      const rate = typeof rest.sampleRate === 'number' ? rest.sampleRate : 8000;
      const ext = type === 'raw' ? `r${Math.round(rate / 1000)}` : (EXT[type] ?? type);
      const file = join(tmpdir(), `${this.call.uuid}_${this.fileCount++}.tmp.${ext}`);
      writeFileSync(file, Buffer.from(audioData, 'base64'));
      this.files.push(file);
      this.call.emitCustomEvent('mod_audio_stream::play', JSON.stringify({ ...rest, file }));
    } else {
      this.call.emitCustomEvent('mod_audio_stream::json', text);
    }
  }

  sendText(text: string): boolean {
    if (!this.open) return false;
    this.ws.send(text);
    return true;
  }

  /** `stop [text]`: the text frame, close 1000 "Normal closure", reply after the close; files deleted. */
  async stop(text: string | undefined): Promise<void> {
    if (this.open) {
      if (text !== undefined) this.ws.send(text);
      await this.closeWs();
    }
    this.detach();
  }

  private closeWs(): Promise<void> {
    this.closingByUs = true;
    this.stopClock();
    return new Promise((resolve) => {
      const timer = this.hub.timers.set(1000, () => {
        this.ws.terminate();
        resolve();
      });
      this.ws.once('close', () => {
        timer();
        resolve();
      });
      this.ws.close(1000, 'Normal closure');
    });
  }

  /** Hangup: close frame, no event. */
  close(): void {
    if (this.open) void this.closeWs();
    else this.ws.terminate();
    this.detach();
  }

  private detach(): void {
    this.stopClock();
    if (this.call.audioStream.current === this) this.call.audioStream.current = undefined;
    for (const f of this.files.splice(0)) rmSync(f, { force: true });
  }
}
