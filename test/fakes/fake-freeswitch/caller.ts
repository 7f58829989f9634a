/**
 * The scripted caller. Audio steps are pulled frame by frame by whoever listens (a `record`, or an active
 * audio stream); timed steps fire from timers. When the script has no audio at its head, the channel reads
 * comfort noise: silent for silence detection, and not written to a recording (SFF_CNG).
 * An `await_playback` step holds the audio back (comfort noise) until something has been playing to the
 * caller for its `atMs`: a playback app, or the daemon's unicast datagrams.
 */
import type { CallerStep } from './types.js';
import { readAudioFile, resample } from './wav.js';

export interface CallerHooks {
  dtmf(digit: string): void;
  hangup(cause: string): void;
  /** Channel still up? */
  up(): boolean;
  /** Timer in call time (scaled by speed); returns a cancel function. */
  timer(ms: number, fn: () => void): () => void;
  /** Call time in ms (wall time multiplied by speed). */
  callTimeMs(): number;
}

export interface Frame {
  samples: Int16Array;
  /** Comfort noise: counts for silence detection, never written to a file. */
  cng: boolean;
}

type Consumer = 'record' | 'stream';

/** Without a datagram for longer than this, the daemon's unicast "playback" has ended. */
const UNICAST_GAP_MS = 100;
const AWAIT_PLAYBACK_MS = 200;

export class CallerScript {
  private idx = 0;
  private audio: Int16Array | undefined;
  private audioPos = 0;
  private cancelTimer: (() => void) | undefined;
  private playback: { startedAt: number; durationMs: number } | undefined;
  private unicastAudio: { since: number; lastAt: number } | undefined;
  private started = false;
  readonly samplesPerFrame: number;

  constructor(
    private readonly steps: CallerStep[],
    private readonly rateHz: number,
    private readonly hooks: CallerHooks,
  ) {
    this.samplesPerFrame = rateHz / 50;
  }

  /** Starts the timed part of the script (when the daemon has connected). */
  start(): void {
    this.started = true;
    this.poke();
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.idx = this.steps.length;
  }

  onPlaybackStart(durationMs: number): void {
    this.playback = { startedAt: this.hooks.callTimeMs(), durationMs };
    this.poke();
  }

  onPlaybackEnd(): void {
    this.playback = undefined;
    const head = this.steps[this.idx];
    if (head && 'when' in head && head.when === 'during_playback') {
      this.cancelTimer?.();
      this.cancelTimer = undefined;
    } else if (head?.type === 'await_playback') {
      this.cancelTimer?.();
      this.cancelTimer = undefined;
      this.poke();
    }
  }

  /** A unicast datagram from the daemon reached the caller's leg at this call time. */
  onUnicastAudio(atMs: number): void {
    const u = this.unicastAudio;
    if (u === undefined || atMs - u.lastAt > UNICAST_GAP_MS)
      this.unicastAudio = { since: atMs, lastAt: atMs };
    else u.lastAt = atMs;
    this.poke();
  }

  /** Since when audio has been playing to the caller without a break, if it is now. */
  private playingSince(now: number): number | undefined {
    const u = this.unicastAudio;
    const fromUnicast = u !== undefined && now - u.lastAt <= UNICAST_GAP_MS ? u.since : undefined;
    const fromPlayback = this.playback?.startedAt;
    if (fromUnicast === undefined) return fromPlayback;
    return fromPlayback === undefined ? fromUnicast : Math.min(fromUnicast, fromPlayback);
  }

  private playedFor(now: number): number {
    const since = this.playingSince(now);
    return since === undefined ? -1 : now - since;
  }

  /** The next 20 ms frame for a consumer; `undefined` when the caller hung up while it was read. */
  nextFrame(consumer: Consumer): Frame | undefined {
    for (;;) {
      if (!this.hooks.up()) return undefined;
      const head = this.steps[this.idx];
      if (!head) return this.cng();
      if (head.type === 'speak' || head.type === 'silence') {
        const audio = this.loadAudio(head);
        if (this.audioPos + this.samplesPerFrame <= audio.length) {
          const samples = audio.subarray(this.audioPos, this.audioPos + this.samplesPerFrame);
          this.audioPos += this.samplesPerFrame;
          return { samples, cng: false };
        }
        // A trailing partial frame is dropped, like the recorded 3.721 s file that recorded 3.720 s.
        this.advance();
        continue;
      }
      if (head.type === 'await_playback') {
        if (this.playedFor(this.hooks.callTimeMs()) < (head.atMs ?? AWAIT_PLAYBACK_MS)) return this.cng();
        this.cancelTimer?.();
        this.cancelTimer = undefined;
        this.advance();
        continue;
      }
      const when = head.when ?? 'now';
      if (when === 'now' || (when === 'during_record' && consumer === 'record')) {
        this.cancelTimer?.();
        this.cancelTimer = undefined;
        this.fire(head);
        continue;
      }
      return this.cng();
    }
  }

  private cng(): Frame {
    // Loopback comfort noise: |sample| of 1 to 2, as the recordings show.
    const samples = new Int16Array(this.samplesPerFrame);
    for (let i = 0; i < samples.length; i++) samples[i] = i % 2 === 0 ? 1 : -1;
    return { samples, cng: true };
  }

  private loadAudio(step: Extract<CallerStep, { type: 'speak' | 'silence' }>): Int16Array {
    if (this.audio) return this.audio;
    if (step.type === 'silence') {
      this.audio = new Int16Array(Math.round((step.ms * this.rateHz) / 1000));
    } else if ('wavPath' in step) {
      const pcm = readAudioFile(step.wavPath);
      this.audio = resample(pcm.samples, pcm.sampleRateHz, this.rateHz);
    } else {
      const src =
        step.pcm instanceof Int16Array
          ? step.pcm
          : new Int16Array(
              step.pcm.buffer.slice(step.pcm.byteOffset, step.pcm.byteOffset + (step.pcm.length & ~1)),
            );
      this.audio = resample(src, step.sampleRateHz, this.rateHz);
    }
    this.audioPos = 0;
    return this.audio;
  }

  private advance(): void {
    this.idx++;
    this.audio = undefined;
    this.audioPos = 0;
    this.poke();
  }

  private fire(step: Extract<CallerStep, { type: 'dtmf' | 'hangup' }>): void {
    this.advance();
    if (step.type === 'dtmf') this.hooks.dtmf(step.digit);
    else this.hooks.hangup(step.cause ?? 'NORMAL_CLEARING');
  }

  /** Arms the timer for a timed step at the head of the script. */
  private poke(): void {
    if (!this.started || this.cancelTimer || !this.hooks.up()) return;
    const head = this.steps[this.idx];
    if (!head || head.type === 'speak' || head.type === 'silence') return;
    if (head.type === 'await_playback') return this.armAwait(head);
    const when = head.when ?? 'now';
    if (when === 'during_record') return;
    let delayMs: number;
    if (when === 'now') delayMs = 0;
    else if (when === 'during_playback') {
      if (!this.playback) return;
      const at = head.atMs ?? Math.min(this.playback.durationMs / 2, 1000);
      delayMs = Math.max(0, at - (this.hooks.callTimeMs() - this.playback.startedAt));
    } else delayMs = when.afterMs;
    const step = head;
    this.cancelTimer = this.hooks.timer(delayMs, () => {
      this.cancelTimer = undefined;
      if (this.steps[this.idx] === step && this.hooks.up()) this.fire(step);
    });
  }

  /** With no consumer reading frames, an await_playback still ends on time (so later timed steps run). */
  private armAwait(step: Extract<CallerStep, { type: 'await_playback' }>): void {
    const now = this.hooks.callTimeMs();
    const played = this.playedFor(now);
    if (played < 0) return;
    const atMs = step.atMs ?? AWAIT_PLAYBACK_MS;
    this.cancelTimer = this.hooks.timer(Math.max(0, atMs - played), () => {
      this.cancelTimer = undefined;
      if (this.steps[this.idx] !== step || !this.hooks.up()) return;
      // Timers may fire a fraction of a millisecond early.
      if (this.playedFor(this.hooks.callTimeMs()) >= atMs - 1) this.advance();
      else this.poke();
    });
  }
}
