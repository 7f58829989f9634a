/**
 * What the conversation engine needs from a call: caller turns in, speech out. Each backend implements it
 * (calls/FilesMedia: FreeSWITCH `record` + `playback` over ESL; the text console; the full-duplex backends
 * next), so the engine never knows which one it talks to. Modelled on agents-js `voice/io.ts`: play resolves
 * with `{ interrupted, playedMs }`, and `clear()` stops what is playing.
 */
import type { PcmAudio } from '../providers/types.js';
import type { MediaBackend } from '../store/rows.js';

/** Stored as v_voice_conversations.media_backend. */
export type MediaKind = MediaBackend;

export interface Media {
  readonly kind: MediaKind;
  readonly callUuid: string;
  /** The rate the caller is read at (Channel-Read-Codec-Rate): 8000 for PCMU/PCMA, 16000 for G722. */
  readonly sampleRateHz: number;
  /** False when play() needs no audio (the text console without --say): the engine then skips TTS. */
  readonly speaks: boolean;
  /** Aborts when the caller hangs up (or the connection goes away). */
  readonly hangupSignal: AbortSignal;
  answer(signal: AbortSignal): Promise<void>;
  /** Waits for the caller's next turn. */
  listen(opts: ListenOptions, signal: AbortSignal): Promise<Heard>;
  /**
   * Plays one item to its end, an interruption (barge-in, clear()) or a terminator digit. A full-duplex
   * backend keeps hearing the caller meanwhile: speech that interrupts is the next listen()'s turn.
   */
  play(item: Playable, signal: AbortSignal): Promise<Played>;
  /** Stops what is playing and drops what is queued. */
  clear(): void;
  /** Hands the call to `<destination> XML <context>`; the media ends afterwards. */
  transfer(destination: string, context: string, signal: AbortSignal): Promise<void>;
  hangup(cause?: string): Promise<void>;
}

export interface ListenOptions {
  /** Where a backend that records to a file puts this turn (the call's own directory). */
  file: string;
  maxSeconds: number;
  /** Mean absolute amplitude a 20 ms frame needs to count as voiced (unscaled, see audio/energy.ts). */
  silenceThreshold: number;
  silenceSeconds: number;
}

/** One caller turn. `speechEndedAt` is the clock's monotonic ms at the caller's end of speech. */
export type Heard =
  /** Speech that still needs STT. */
  | { type: 'audio'; audio: PcmAudio; speechEndedAt: number; listenedMs: number }
  /** Already text: typed, or from a streaming STT. */
  | { type: 'text'; text: string; speechEndedAt: number; sttMs?: number }
  /** Nothing said for `listenedMs`. */
  | { type: 'silence'; listenedMs: number }
  /** A terminator digit: `0` reaches the operator, `*` ends the call. */
  | { type: 'digit'; digit: string }
  /** The caller will say nothing more (the console's input ended). */
  | { type: 'end' };

export interface Playable {
  /** What is said: printed by the console, logged, stored. */
  text: string;
  /** The synthesized audio at the media's rate (absent when the media does not speak). */
  file?: string;
  /** A fixed phrase (greeting, filler, farewell) rather than a sentence of a reply. */
  phrase?: boolean;
}

export interface Played {
  /** `interrupted` without a digit: the caller spoke over it (barge-in) or clear() stopped it. */
  status: 'done' | 'interrupted' | 'not_found' | 'error';
  /** The DTMF digit that cut it short, if any. */
  digit?: string;
  playedMs: number;
  /** The item's whole length, when the backend knows it (what share of an interrupted sentence was heard). */
  durationMs?: number;
}

/** DTMF during playback or recording: `0` reaches the operator, `*` ends the call. */
export const TERMINATORS = '0*';
