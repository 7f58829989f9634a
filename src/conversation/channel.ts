/**
 * What a conversation needs from a phone call. calls/FsChannel implements it over ESL; the text console and
 * the tests implement it too, so the conversation engine never knows which it is talking to.
 */
export interface Channel {
  readonly callUuid: string;
  /** The rate FreeSWITCH reads the caller at (Channel-Read-Codec-Rate): 8000 for PCMU/PCMA, 16000 for G722. */
  readonly sampleRateHz: number;
  /** Aborts when the caller hangs up (or the socket goes away). */
  readonly hangupSignal: AbortSignal;
  answer(signal: AbortSignal): Promise<void>;
  /** Plays a file to the end, or until a terminator digit; resolves with how it ended. */
  play(file: string, opts: { signal: AbortSignal }): Promise<PlayResult>;
  /** Records the caller into `file` (WAV at sampleRateHz) until silence, the time limit or a terminator. */
  record(file: string, opts: RecordOptions & { signal: AbortSignal }): Promise<RecordResult>;
  /** Hands the call to `<destination> XML <context>`; the socket session ends afterwards. */
  transfer(destination: string, context: string, signal: AbortSignal): Promise<void>;
  hangup(cause?: string): Promise<void>;
}

export interface RecordOptions {
  maxSeconds: number;
  /** Silence threshold already scaled to the channel's rate. */
  silenceThreshold: number;
  silenceSeconds: number;
}

export interface PlayResult {
  status: 'done' | 'break' | 'not_found' | 'error';
  /** The DTMF digit that cut it short, if any. */
  terminator?: string;
}

export interface RecordResult {
  recordMs: number;
  silenceHitsExhausted: boolean;
  terminator?: string;
}

/** DTMF during playback or recording: `0` reaches the operator, `*` ends the call. */
export const TERMINATORS = '0*';
