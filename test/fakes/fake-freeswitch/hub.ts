/** What calls and connections share: the switch core, timers, listeners, and the call registry. */
import type { Outlet } from './listener.js';
import type { Timers } from './runtime.js';
import type { SwitchCore } from './switch-core.js';
import type { FsEvent } from './wire.js';

/** The parts of a call the api commands need (uuid_break, uuid_transfer, uuid_kill, ...). */
export interface CallControl {
  readonly uuid: string;
  isUp(): boolean;
  breakApps(all: boolean): void;
  kill(cause: string): void;
  transferTo(destination: string, dialplan: string | undefined, context: string | undefined): void;
  broadcast(path: string): void;
  setVar(name: string, value: string | undefined): void;
  getVar(name: string): string | undefined;
  answer(): void;
  /** Queues a sendmsg from another connection (`sendmsg <uuid>` on an inbound socket). */
  sendmsg(headers: Array<[string, string]>, body: Buffer | undefined): void;
  /** Fires a CUSTOM event bound to the channel. */
  emitCustomEvent(subclass: string, body?: string): void;
  /** The attached mod_audio_stream, if any. */
  readonly audioStream: AudioStreamSlot;
  /** The channel's read rate. */
  readonly rateHz: number;
  /** The next caller frame for an audio stream's own clock; undefined while a record reads the channel. */
  pullStreamFrame(): Int16Array | undefined;
}

/** The one mod_audio_stream media bug a channel can carry. */
export interface AudioStreamSlot {
  current: { sendFrame(samples: Int16Array): void; close(): void } | undefined;
}

export interface Hub {
  readonly core: SwitchCore;
  readonly timers: Timers;
  readonly speed: number;
  readonly latencyMs: number;
  readonly recordDir: string;
  /** Offers an event to every listener (inbound connections and outbound call sockets). */
  fire(event: FsEvent): void;
  addOutlet(outlet: Outlet): void;
  removeOutlet(outlet: Outlet): void;
  findCall(uuid: string): CallControl | undefined;
  /** Runs an api command for an api/bgapi line; undefined when the command does not exist. */
  runApi(command: string, arg: string | undefined): Promise<string | undefined>;
}
