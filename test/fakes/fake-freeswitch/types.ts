/** Public API of the fake FreeSWITCH (see index.ts). */

export interface FakeFreeSwitchOptions {
  /** Bind address of the inbound ESL server; default 127.0.0.1. */
  host?: string;
  /** Inbound ESL port; default 0 (ephemeral). Pass the old port to restart "the same" FreeSWITCH. */
  port?: number;
  /** Event-socket password; default 'ClueCon'. */
  password?: string;
  /**
   * Time scale for media and channel timers: playback, record, sleep, linger, the transfer target's
   * extension, caller `afterMs`/`atMs`. 10 = ten times faster. Default 1.
   */
  speed?: number;
  /** Base directory for relative `record` paths; default the OS temp dir. */
  recordDir?: string;
  coreUuid?: string;
  /** FreeSWITCH-Hostname / -Switchname / -IPv4 / -IPv6; default the recordings' values. */
  hostname?: string;
  switchname?: string;
  ipv4?: string;
  ipv6?: string;
  /** Delay before queued events reach a socket (the listener's 20 ms poll); default 20 / speed ms. */
  eventLatencyMs?: number;
  /** Inbound connections that do not authenticate within this time are closed; default 25000 ms. */
  authTimeoutMs?: number;
}

export interface FakeFreeSwitch {
  readonly inboundPort: number;
  /** Connects to the daemon's outbound server like the `socket` app (`<host>:<port> async full`). */
  placeCall(opts: PlaceCallOptions): FakeCall;
  /** `api`/`bgapi` command lines received on inbound connections, e.g. `uuid_break <uuid> all`. */
  readonly apiLog: string[];
  inboundConnections(): number;
  /** Fires an event to every subscribed listener; base headers are added, `Event-Name` defaults to CUSTOM. */
  emitEvent(headers: Record<string, string>, body?: string): void;
  /** Sends disconnect notices ("The system is being shut down."), closes sockets, ends calls. Idempotent. */
  stop(): Promise<void>;
  readonly faults: InboundFaults;
}

/** Faults applied to every current inbound connection. */
export interface InboundFaults {
  /** Destroys the connections without a disconnect notice. */
  dropInbound(): void;
  /** Writes raw bytes (a corrupt frame) to the connections. */
  sendGarbage(bytes: Buffer): void;
  /** Announces an event frame with `Content-Length: bytes` and streams that many bytes of body. */
  sendOversized(bytes: number): void;
  /** Stops reading commands and sending events for `ms` (a busy listener thread). */
  stallReads(ms: number): void;
}

export type CallerWhen = 'now' | 'during_playback' | 'during_record' | { afterMs: number };

export type CallerStep =
  /** Caller audio, consumed by the next `record` (or by an active mod_audio_stream). */
  | { type: 'speak'; wavPath: string }
  | { type: 'speak'; pcm: Int16Array | Buffer; sampleRateHz: number }
  /** Digital silence that is sent (and recorded), unlike the comfort noise when the script runs dry. */
  | { type: 'silence'; ms: number }
  /**
   * `now`: when the script reaches it; `during_record`: at that point of the audio a record consumes;
   * `during_playback`: `atMs` after the next playback starts (default half its length, at most 1 s);
   * `{ afterMs }`: that long after the script reaches it.
   */
  | { type: 'dtmf'; digit: string; when?: CallerWhen; atMs?: number }
  | { type: 'hangup'; when: CallerWhen; cause?: string; atMs?: number }
  /**
   * The caller waits for the secretary to speak: audio consumers read comfort noise until audio has been
   * playing to the caller for `atMs` (default 200) of call time, then the script goes on (a barge-in when a
   * `speak` follows). Playing means a `playback` app running, or unicast datagrams arriving from the daemon
   * (a gap of more than 100 ms without one ends that "playback").
   */
  | { type: 'await_playback'; atMs?: number };

export type ReadCodec = 'PCMU' | 'PCMA' | 'L16' | 'G722' | 'OPUS';

export interface PlaceCallOptions {
  target: { host: string; port: number };
  /** The controlled channel's uuid (the loopback b-leg in the recordings). */
  uuid?: string;
  channelName?: string;
  callerIdNumber?: string;
  /** A Buffer keeps raw bytes: Latin-1 'Jo\xe3o' goes out URL-encoded as `Jo%E3o`. */
  callerIdName?: string | Buffer;
  destinationNumber?: string;
  /** Dialplan context; default the domain name, else 'voice.example.com'. */
  context?: string;
  domainUuid?: string;
  domainName?: string;
  readCodec?: ReadCodec;
  readRateHz?: 8000 | 16000 | 48000;
  /** Extra channel variables set by the dialplan before `socket` (e.g. voice_ai_secretary_uuid). */
  variables?: Record<string, string>;
  /** The dialplan ran `answer` before `socket`; default false. */
  answered?: boolean;
  script?: CallerStep[];
  /** With `linger` and no close from the daemon, the fake closes after this long and logs a violation. */
  linger?: { daemonCloseWithinMs?: number };
  /**
   * The socket app's CHANNEL_PARK fires when the daemon sends `connect` (before it can subscribe, so only
   * inbound listeners see it). It races with the subscription: in some recordings it comes around the first
   * sendmsg instead, after its +OK (`true`) or before it (`'before-reply'`).
   */
  parkEvent?: boolean | 'before-reply';
  /** Without linger, drop the events after CHANNEL_HANGUP (FreeSWITCH does not guarantee them). */
  loseEventsAfterHangup?: boolean;
  /** What the transfer target extension does: answer, play a tone for `playMs`, hang up (the recorded 2000). */
  afterTransfer?: { playMs?: number; hangupCause?: string } | 'park';
  /** What the dialplan does when the socket app returns (daemon closed or never connected); default hangup. */
  afterSocket?: 'hangup' | 'park';
  /**
   * `call-command: unicast`: 'ok' (default) binds `local-ip:local-port`; 'refuse' models FreeSWITCH failing
   * to create the connection (port in use, `transport: sctp`): the reply is still +OK and no datagram ever
   * comes. A port that really is in use fails the same way.
   */
  unicast?: 'ok' | 'refuse';
}

/**
 * The call's unicast connection (reference/freeswitch.md §2a), as FreeSWITCH's side sees it. Times are call
 * time (scaled by `speed`) in ms since the unicast sendmsg was handled.
 * - The caller's frames go out one per 20 ms of call time from `local` to `remote-ip:remote-port`: raw L16
 *   LE at the read rate, or a full frame of bytes 0xFF while the script has no audio (CNG).
 * - Datagrams received on `local` (from any source) go into mod_loopback's 3-frame queue, which is emptied
 *   when a write finds it full; the caller reads one frame per 20 ms: `heard()`. A zero-length datagram ends
 *   the receive thread for the rest of the call (`receiverDead`, a violation).
 * - playback, record, speak, wait_for_silence and transfer end it for good: sending stops when the app
 *   starts, the socket closes when it completes (the receive thread writes until then; the file's own audio
 *   is not in `heard()`). Leaving park (hangup, transfer, the socket closing) closes it at once. A second
 *   unicast in the call does nothing (a violation).
 */
export interface FakeUnicastState {
  /** A unicast sendmsg was handled (even when the bind failed). */
  readonly started: boolean;
  /** Bound, and the parked channel sends the caller's frames. */
  readonly active: boolean;
  /** The UDP socket is open (it stays open while an app that ended unicast runs). */
  readonly bound: boolean;
  readonly receiverDead: boolean;
  /** Datagrams sent to the daemon. */
  readonly framesSent: number;
  /** Non-empty datagrams received while the receive thread lived. */
  readonly framesReceived: number;
  /** FreeSWITCH's side, `local-ip` / `local-port` of the sendmsg. */
  readonly local: { host: string; port: number } | undefined;
  /** All audio the caller heard, concatenated, after the loopback queue model. */
  heard(): Int16Array;
  /** The frames the caller heard, each with the call time the caller's leg read it. */
  heardFrames(): Array<{ atMs: number; samples: Int16Array }>;
}

export interface ExecutedApp {
  app: string;
  arg: string;
  response: string;
  /** Channel variables at EXECUTE_COMPLETE. */
  variables: Record<string, string>;
  applicationUuid: string;
}

export interface CallEnd {
  hangupCause: string;
  socketClosedBy: 'daemon' | 'freeswitch';
  transferredTo?: string;
  transferredContext?: string;
  /** The outbound connect failed; the dialplan went on after `socket`. */
  connectFailed?: boolean;
}

export interface FakeCall {
  readonly uuid: string;
  /** Every command received on the outbound socket: first line, plus `app arg` for sendmsg execute. */
  readonly commands: string[];
  readonly executed: ExecutedApp[];
  /** WAV paths written by `record`. */
  readonly recordings: string[];
  /** Protocol violations seen (sendmsg without event-lock while an app runs, linger never closed, ...). */
  readonly violations: string[];
  /** Names of the channel events fired, e.g. `CHANNEL_EXECUTE playback`, `DTMF 1`. */
  readonly eventLog: string[];
  /** Resolves when the daemon sent `connect`. */
  readonly connected: Promise<void>;
  readonly ended: Promise<CallEnd>;
  /** The caller hangs up now (default NORMAL_CLEARING). */
  hangup(cause?: string): void;
  /** The caller presses a key now. */
  dtmf(digit: string): void;
  /** Current channel variables. */
  variables(): Record<string, string>;
  /** Fires a CUSTOM event bound to this channel (e.g. `mod_audio_stream::json` with a JSON body). */
  emitCustomEvent(subclass: string, body?: string): void;
  /** `call-command: unicast` (see FakeUnicastState). */
  readonly unicast: FakeUnicastState;
  readonly faults: {
    /** Destroys the outbound socket without notice. */
    dropSocket(): void;
    sendRaw(bytes: Buffer): void;
    stallReads(ms: number): void;
    /**
     * From now on, these apps (every app when omitted) start (CHANNEL_EXECUTE) but never complete while the
     * channel is up; uuid_break does not free them, and since they hold the event lock, a `call-command:
     * hangup` sent on the socket waits behind them. Only uuid_kill (or the caller hanging up) ends the call;
     * the inbound `apiLog` records it.
     */
    holdExecutes(apps?: readonly string[]): void;
  };
}
