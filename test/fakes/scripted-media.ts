/**
 * A media backend played from a script, so the conversation engine can be driven turn by turn without
 * FreeSWITCH: each listen() takes the next scripted caller turn, each play() is recorded (and may be cut by a
 * scripted digit), transfer() and hangup() are recorded and end the media as a real channel would.
 * It implements the same `Media` interface as calls/FilesMedia and the text console; nothing of the engine
 * is replaced.
 */
import { readFile } from 'node:fs/promises';
import { parseWav } from '../../src/audio/wav.js';
import type { Heard, Media, Playable, Played } from '../../src/conversation/media.js';

/** A caller turn, or `hangup`: the caller hangs up while the engine listens. */
export type ScriptedTurn = Heard | { type: 'hangup' };

export interface PlayedItem extends Playable {
  status: Played['status'];
  /** With a WAV: its length, read from the file the engine produced; for text, 60 ms a character. */
  durationMs: number;
}

export interface ScriptedMediaOptions {
  turns: readonly ScriptedTurn[];
  /** Whether the engine has to synthesize speech (a phone call) or may send text (the console). */
  speaks?: boolean;
  sampleRateHz?: number;
  /** Returns a digit to cut this item short with, as a caller pressing a key during it. */
  digitDuring?: (item: Playable, index: number) => string | undefined;
  /**
   * The caller speaks over this item (a full-duplex backend's barge-in) after this share of it (0-1): it
   * resolves interrupted with that much played. The speech itself is the next scripted turn.
   */
  bargeInDuring?: (item: Playable, index: number) => number | undefined;
}

export class ScriptedMedia implements Media {
  readonly kind = 'text' as const;
  readonly callUuid = `scripted-${Math.random().toString(36).slice(2)}`;
  readonly sampleRateHz: number;
  readonly speaks: boolean;
  readonly played: PlayedItem[] = [];
  readonly transfers: { destination: string; context: string }[] = [];
  readonly hangups: (string | undefined)[] = [];
  answered = 0;
  listens = 0;
  readonly #ctl = new AbortController();
  readonly #opts: ScriptedMediaOptions;

  constructor(opts: ScriptedMediaOptions) {
    this.#opts = opts;
    this.speaks = opts.speaks ?? false;
    this.sampleRateHz = opts.sampleRateHz ?? 8000;
  }

  get hangupSignal(): AbortSignal {
    return this.#ctl.signal;
  }

  /** What was said, in order. */
  get texts(): string[] {
    return this.played.map((p) => p.text);
  }

  async answer(): Promise<void> {
    this.answered++;
  }

  async listen(): Promise<Heard> {
    this.#ctl.signal.throwIfAborted();
    const turn = this.#opts.turns[this.listens++];
    if (turn === undefined) return { type: 'end' };
    if (turn.type === 'hangup') {
      this.#ctl.abort(new Error('caller hung up'));
      this.#ctl.signal.throwIfAborted();
    }
    return turn as Heard;
  }

  async play(item: Playable, signal: AbortSignal): Promise<Played> {
    signal.throwIfAborted();
    if (this.speaks && item.file === undefined) throw new Error(`no audio for "${item.text}"`);
    // Text has no audio: a stand-in length of 60 ms per character, so a share of it means something.
    const durationMs = item.file === undefined ? item.text.length * 60 : await wavMs(item.file);
    const digit = this.#opts.digitDuring?.(item, this.played.length);
    const share = digit === undefined ? this.#opts.bargeInDuring?.(item, this.played.length) : undefined;
    const status = digit === undefined && share === undefined ? 'done' : 'interrupted';
    this.played.push({ ...item, status, durationMs });
    if (digit !== undefined) return { status, digit, playedMs: Math.round(durationMs / 2), durationMs };
    if (share !== undefined) return { status, playedMs: Math.round(durationMs * share), durationMs };
    return { status, playedMs: durationMs, durationMs };
  }

  clear(): void {}

  async transfer(destination: string, context: string): Promise<void> {
    this.transfers.push({ destination, context });
    this.#ctl.abort(new Error('transferred'));
  }

  async hangup(cause?: string): Promise<void> {
    this.hangups.push(cause);
    this.#ctl.abort(new Error('hung up'));
  }
}

async function wavMs(file: string): Promise<number> {
  const wav = parseWav(await readFile(file));
  return Math.round((wav.samples.length / wav.sampleRateHz) * 1000);
}
