import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseWav } from '../audio/wav.js';
import type { Clock } from '../core/clock.js';
import type { Heard, ListenOptions, Media, Playable, Played } from '../conversation/media.js';
import type { ReplyReport } from '../conversation/session.js';
import { terminalSafeLine } from './terminal.js';

export interface TextMediaOptions {
  callUuid: string;
  clock: Clock;
  /** Lines the caller types (stdin) or scripted lines (-m, the demo). */
  lines: AsyncIterable<string> | Iterable<string>;
  out: (s: string) => void;
  /** With --say: every phrase and sentence the engine synthesizes is copied here as a WAV, at this rate. */
  say?: { dir: string; rateHz: number };
}

/**
 * The text console as a media backend (`voice-ai chat`, the demo): the caller's turn is the next typed line,
 * speech is a printed line. The engine is the same as a call's; only the ends differ. A line that is just `0`
 * or `*` is the DTMF key (operator, hang up). Fixed phrases print as they are said; a reply's sentences are
 * gathered and printed as one line by `report()`, with its tools, decision and latency.
 */
export class TextMedia implements Media {
  readonly kind = 'text' as const;
  readonly callUuid: string;
  readonly sampleRateHz: number;
  readonly speaks: boolean;
  readonly #hangup = new AbortController();
  readonly #opts: TextMediaOptions;
  readonly #lines: AsyncIterator<string> | Iterator<string>;
  #sentences: string[] = [];
  #audio: string[] = [];
  #files = 0;

  constructor(opts: TextMediaOptions) {
    this.#opts = opts;
    this.callUuid = opts.callUuid;
    this.sampleRateHz = opts.say?.rateHz ?? 16000;
    this.speaks = opts.say !== undefined;
    this.#lines =
      Symbol.asyncIterator in opts.lines ? opts.lines[Symbol.asyncIterator]() : opts.lines[Symbol.iterator]();
  }

  get hangupSignal(): AbortSignal {
    return this.#hangup.signal;
  }

  async answer(): Promise<void> {}

  async listen(_opts: ListenOptions, signal: AbortSignal): Promise<Heard> {
    for (;;) {
      signal.throwIfAborted();
      const next = await this.#lines.next();
      if (next.done === true) return { type: 'end' };
      const line = next.value.trim();
      if (line === '') continue;
      this.#opts.out(`caller> ${terminalSafeLine(line)}`);
      if (line === '0' || line === '*') return { type: 'digit', digit: line };
      return { type: 'text', text: line, speechEndedAt: this.#opts.clock.monotonicMs() };
    }
  }

  async play(item: Playable, signal: AbortSignal): Promise<Played> {
    signal.throwIfAborted();
    let playedMs = 0;
    if (item.file !== undefined && this.#opts.say) {
      const wav = parseWav(await readFile(item.file));
      playedMs = Math.round((wav.samples.length / wav.sampleRateHz) * 1000);
      const dest = path.join(this.#opts.say.dir, `${this.callUuid}-${++this.#files}.wav`);
      await mkdir(this.#opts.say.dir, { recursive: true });
      await copyFile(item.file, dest);
      this.#audio.push(`  [audio] ${dest} (${(playedMs / 1000).toFixed(1)} s)`);
    }
    if (item.phrase === true) {
      this.#opts.out(`secretary> ${terminalSafeLine(item.text)}`);
      this.#flushAudio();
    } else {
      this.#sentences.push(item.text);
    }
    return { status: 'done', playedMs };
  }

  /** Prints the reply the engine just spoke: its sentences as one line, tools, decision, latency, audio. */
  report(r: ReplyReport): void {
    const out = this.#opts.out;
    const text = this.#sentences.join(' ');
    this.#sentences = [];
    out(`secretary> ${terminalSafeLine(text || r.text) || '(no text)'}`);
    for (const t of r.toolCalls) out(`  [tool] ${terminalSafeLine(`${t.name}(${t.arguments})`)}`);
    if (r.action.type !== 'none')
      out(`  [decision] ${r.action.type === 'transfer' ? 'transfer to the operator' : 'end the call'}`);
    const ms = (v: number | null): string => (v === null ? '-' : `${Math.round(v)} ms`);
    out(
      `  [latency] llm first token ${ms(r.llmFirstTokenMs)}, reply ${Math.round(r.totalMs)} ms, ` +
        `${r.sentences} sentence(s)${this.speaks ? `, tts first byte ${ms(r.ttsFirstByteMs)}` : ''}`,
    );
    this.#flushAudio();
  }

  clear(): void {
    this.#sentences = [];
  }

  async transfer(destination: string, context: string): Promise<void> {
    this.#opts.out(`  [transfer] ${terminalSafeLine(`${destination} XML ${context}`)}`);
    this.#hangup.abort(new Error('transferred'));
  }

  async hangup(): Promise<void> {
    this.#hangup.abort(new Error('hung up'));
  }

  #flushAudio(): void {
    for (const line of this.#audio) this.#opts.out(line);
    this.#audio = [];
  }
}
