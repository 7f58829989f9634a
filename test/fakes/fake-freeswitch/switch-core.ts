/**
 * The switch-wide part of every event: identity headers, dates, the global sequence, and where in the
 * FreeSWITCH source each event type is fired (Event-Calling-*), as seen in the recordings.
 */
import { randomUUID } from 'node:crypto';
import type { FsEvent, HeaderValue } from './wire.js';

export interface SwitchIdentity {
  coreUuid: string;
  hostname: string;
  switchname: string;
  ipv4: string;
  ipv6: string;
}

/** [file, function, line] of the code that fires each event in FreeSWITCH 1.10.12. */
const CALLING_SITES: Record<string, [string, string, number]> = {
  CHANNEL_DATA: ['mod_event_socket.c', 'parse_command', 2021],
  CHANNEL_EXECUTE: ['switch_core_session.c', 'switch_core_session_exec', 2944],
  CHANNEL_EXECUTE_COMPLETE: ['switch_core_session.c', 'switch_core_session_exec', 2967],
  CHANNEL_HANGUP: ['switch_channel.c', 'switch_channel_perform_hangup', 3445],
  CHANNEL_HANGUP_COMPLETE: ['switch_core_state_machine.c', 'switch_core_session_reporting_state', 943],
  CHANNEL_PARK: ['switch_ivr.c', 'switch_ivr_park', 1002],
  CHANNEL_UNPARK: ['switch_ivr.c', 'switch_ivr_park', 1213],
  CHANNEL_STATE: ['switch_channel.c', 'switch_channel_perform_set_running_state', 2408],
  CHANNEL_ANSWER: ['switch_channel.c', 'switch_channel_perform_mark_answered', 3846],
  DTMF: ['switch_channel.c', 'switch_channel_dequeue_dtmf', 677],
  PLAYBACK_START: ['switch_ivr_play_say.c', 'switch_ivr_play_file', 1646],
  PLAYBACK_STOP: ['switch_ivr_play_say.c', 'switch_ivr_play_file', 2020],
  // Not in the recordings: the function is right, the line numbers are estimates.
  RECORD_START: ['switch_ivr_play_say.c', 'switch_ivr_record_file_event', 1289],
  RECORD_STOP: ['switch_ivr_play_say.c', 'switch_ivr_record_file_event', 1631],
  BACKGROUND_JOB: ['mod_event_socket.c', 'api_exec', 1572],
  SENDEVENT: ['mod_event_socket.c', 'parse_command', 2275],
  AUDIO_STREAM: ['mod_audio_stream.c', 'responseHandler', 16],
  API: ['switch_loadable_module.c', 'switch_api_execute', 2956],
};

export function callingSite(key: string): [string, string, number] {
  return CALLING_SITES[key] ?? ['switch_event.c', 'switch_event_fire_detailed', 2070];
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

export class SwitchCore {
  private sequence = 500;
  constructor(readonly identity: SwitchIdentity) {}

  nextSequence(): number {
    return ++this.sequence;
  }

  /** Microseconds since the epoch, as Event-Date-Timestamp and the channel times carry it. */
  nowUs(): number {
    return Math.floor((performance.timeOrigin + performance.now()) * 1000);
  }

  /**
   * Event-Name, Core-UUID, host identity, dates, calling site and Event-Sequence, in wire order.
   * `site` defaults to the event name's own entry.
   */
  baseHeaders(eventName: string, site?: string): Array<[string, HeaderValue]> {
    const [file, func, line] = callingSite(site ?? eventName);
    const us = this.nowUs();
    const date = new Date(Math.floor(us / 1000));
    const local =
      `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
    const id = this.identity;
    return [
      ['Event-Name', eventName],
      ['Core-UUID', id.coreUuid],
      ['FreeSWITCH-Hostname', id.hostname],
      ['FreeSWITCH-Switchname', id.switchname],
      ['FreeSWITCH-IPv4', id.ipv4],
      ['FreeSWITCH-IPv6', id.ipv6],
      ['Event-Date-Local', local],
      ['Event-Date-GMT', date.toUTCString()],
      ['Event-Date-Timestamp', String(us)],
      ['Event-Calling-File', file],
      ['Event-Calling-Function', func],
      ['Event-Calling-Line-Number', String(line)],
      ['Event-Sequence', String(this.nextSequence())],
    ];
  }

  /**
   * An event not tied to a channel. A CUSTOM event puts `Event-Subclass` before `Event-Name`, as
   * switch_event_create_subclass does.
   */
  plainEvent(
    eventName: string,
    headers: Array<[string, HeaderValue]>,
    body?: Buffer,
    opts: { subclass?: string; site?: string } = {},
  ): FsEvent {
    const first: Array<[string, HeaderValue]> = opts.subclass ? [['Event-Subclass', opts.subclass]] : [];
    return { headers: [...first, ...this.baseHeaders(eventName, opts.site), ...headers], body };
  }

  /** BACKGROUND_JOB: Job-UUID, Job-Command, Job-Command-Arg (when there is one), output as body. */
  backgroundJob(
    jobUuid: string,
    command: string,
    arg: string | undefined,
    output: string,
    owner?: string,
  ): FsEvent {
    const headers: Array<[string, HeaderValue]> = [
      ['Job-UUID', jobUuid],
      ['Job-Command', command],
    ];
    if (arg !== undefined) headers.push(['Job-Command-Arg', arg]);
    if (owner !== undefined) headers.push(['Job-Owner-UUID', owner]);
    return this.plainEvent('BACKGROUND_JOB', headers, Buffer.from(output, 'utf8'));
  }
}

export function newUuid(): string {
  return randomUUID();
}
