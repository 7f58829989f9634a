/**
 * One FreeSWITCH channel as events see it: states, caller profile, codecs and the ordered variable list.
 * Modelled on the loopback b-leg of the recordings (`loopback/8000-b`, inbound, L16 at 8 kHz by default).
 */
import type { SwitchCore } from './switch-core.js';
import { newUuid } from './switch-core.js';
import { setCdrVariables } from './cdr.js';
import type { FsEvent, HeaderValue } from './wire.js';

export type CodecName = 'PCMU' | 'PCMA' | 'L16' | 'G722' | 'OPUS';

/**
 * Channel variables keep insertion order and a set moves the name to the end (switch_channel_set_variable
 * deletes, then appends); an empty value deletes. The recordings' variable order follows from this.
 */
export class VarMap {
  private readonly map = new Map<string, HeaderValue>();

  set(name: string, value: HeaderValue | undefined): void {
    this.map.delete(name);
    if (value !== undefined && value.length > 0) this.map.set(name, value);
  }

  get(name: string): string | undefined {
    const v = this.map.get(name);
    return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('latin1');
  }

  delete(name: string): void {
    this.map.delete(name);
  }

  headers(): Array<[string, HeaderValue]> {
    return Array.from(this.map, ([k, v]): [string, HeaderValue] => [`variable_${k}`, v]);
  }

  toRecord(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k] of this.map) out[k] = this.get(k) ?? '';
    return out;
  }
}

interface Profile {
  dialplan: string;
  callerIdName: HeaderValue;
  callerIdNumber: string;
  calleeIdName: string;
  calleeIdNumber: string;
  destinationNumber: string;
  source: string;
  context: string;
  transferSource?: string;
  rdnis?: string;
  index: number;
  createdUs: number;
}

/** Events that carry the variable list (switch_channel_event_set_extended_data). */
const VERBOSE = new Set([
  'CHANNEL_CREATE',
  'CHANNEL_DATA',
  'CHANNEL_ANSWER',
  'CHANNEL_PARK',
  'CHANNEL_UNPARK',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
  'CHANNEL_EXECUTE',
  'CHANNEL_EXECUTE_COMPLETE',
  'CHANNEL_DESTROY',
  'PLAYBACK_START',
  'PLAYBACK_STOP',
  'RECORD_START',
  'RECORD_STOP',
  'CUSTOM',
]);

const STATE_NUMBER: Record<string, number> = {
  CS_NEW: 0,
  CS_INIT: 1,
  CS_ROUTING: 2,
  CS_SOFT_EXECUTE: 3,
  CS_EXECUTE: 4,
  CS_HANGUP: 10,
  CS_REPORTING: 11,
  CS_DESTROY: 12,
};

const Q850: Record<string, number> = {
  UNALLOCATED_NUMBER: 1,
  NO_ROUTE_DESTINATION: 3,
  NORMAL_CLEARING: 16,
  USER_BUSY: 17,
  NO_USER_RESPONSE: 18,
  NO_ANSWER: 19,
  CALL_REJECTED: 21,
  DESTINATION_OUT_OF_ORDER: 27,
  NORMAL_UNSPECIFIED: 31,
  NORMAL_TEMPORARY_FAILURE: 41,
  SYSTEM_SHUTDOWN: 503,
  ORIGINATOR_CANCEL: 487,
  MANAGER_REQUEST: 503,
};

export interface ChannelInit {
  uuid?: string | undefined;
  channelName?: string | undefined;
  callerIdNumber: string;
  callerIdName: HeaderValue;
  destinationNumber: string;
  context: string;
  readCodec: CodecName;
  readRateHz: number;
  answered: boolean;
  variables: Record<string, string>;
  socketData: string;
  socketHost: string;
}

function codecBitRate(codec: CodecName, rate: number): number {
  if (codec === 'L16') return rate * 16;
  if (codec === 'OPUS') return 0;
  return 64000;
}

export class Channel {
  readonly uuid: string;
  readonly name: string;
  readonly vars = new VarMap();
  readonly codec: CodecName;
  readonly rateHz: number;
  runningState = 'CS_EXECUTE';
  stateNumber = 4;
  callState: string;
  answerState: string;
  hangupCause: string | undefined;
  readonly createdUs: number;
  answeredUs = 0;
  hangupUs = 0;
  digitsDialed = '';
  lastApp = '';
  lastArg = '';
  private profile: Profile;
  private static sessionCounter = 0;

  constructor(
    private readonly core: SwitchCore,
    init: ChannelInit,
  ) {
    this.uuid = init.uuid ?? newUuid();
    this.name = init.channelName ?? `loopback/${init.destinationNumber}-b`;
    this.codec = init.readCodec;
    this.rateHz = init.readRateHz;
    this.createdUs = core.nowUs();
    this.callState = init.answered ? 'ACTIVE' : 'RINGING';
    this.answerState = init.answered ? 'answered' : 'ringing';
    if (init.answered) this.answeredUs = this.createdUs;
    this.profile = {
      dialplan: 'xml',
      callerIdName: init.callerIdName,
      callerIdNumber: init.callerIdNumber,
      calleeIdName: 'Outbound Call',
      calleeIdNumber: init.context,
      destinationNumber: init.destinationNumber,
      source: 'mod_loopback',
      context: init.context,
      index: 1,
      createdUs: this.createdUs,
    };
    const v = this.vars;
    v.set('direction', 'inbound');
    v.set('uuid', this.uuid);
    v.set('session_id', String(++Channel.sessionCounter));
    v.set('channel_name', this.name);
    this.setCodecVars();
    v.set('write_codec', this.codec);
    v.set('write_rate', String(this.rateHz));
    v.set('origination_caller_id_number', init.callerIdNumber);
    v.set('origination_caller_id_name', init.callerIdName);
    v.set('other_loopback_leg_uuid', newUuid());
    v.set('loopback_leg', 'B');
    v.set('call_uuid', this.uuid);
    for (const [k, val] of Object.entries(init.variables)) v.set(k, val);
    if (init.answered) v.set('endpoint_disposition', 'ANSWER');
    v.set('current_application_data', init.socketData);
    v.set('current_application', 'socket');
    // The socket app is the last one run until the daemon executes another (last_app in the CDR variables).
    this.lastApp = 'socket';
    this.lastArg = init.socketData;
    v.set('socket_host', init.socketHost);
  }

  get answered(): boolean {
    return this.answeredUs > 0;
  }

  get up(): boolean {
    return this.hangupCause === undefined;
  }

  get context(): string {
    return this.profile.context;
  }

  get destinationNumber(): string {
    return this.profile.destinationNumber;
  }

  setCodecVars(codec: string = this.codec): void {
    this.vars.set('read_codec', codec);
    this.vars.set('read_rate', String(this.rateHz));
  }

  markAnswered(): void {
    this.answeredUs = this.core.nowUs();
    this.answerState = 'answered';
  }

  /** New caller profile after a transfer (switch_ivr_session_transfer). */
  transferProfile(destination: string, dialplan: string, context: string, transferSource: string): void {
    this.profile = {
      ...this.profile,
      rdnis: this.profile.destinationNumber,
      destinationNumber: destination,
      dialplan,
      context,
      transferSource,
      index: this.profile.index + 1,
      createdUs: this.core.nowUs(),
    };
  }

  setState(running: string, callState?: string, stateNumber?: number): void {
    this.runningState = running;
    this.stateNumber = stateNumber ?? STATE_NUMBER[running] ?? this.stateNumber;
    if (callState) this.callState = callState;
  }

  q850(): number {
    return this.hangupCause ? (Q850[this.hangupCause] ?? 16) : 0;
  }

  private channelHeaders(): Array<[string, HeaderValue]> {
    const rate = String(this.rateHz);
    const bits = String(codecBitRate(this.codec, this.rateHz));
    const h: Array<[string, HeaderValue]> = [
      ['Channel-State', this.runningState],
      ['Channel-Call-State', this.callState],
      ['Channel-State-Number', String(this.stateNumber)],
      ['Channel-Name', this.name],
      ['Unique-ID', this.uuid],
      ['Call-Direction', 'inbound'],
      ['Presence-Call-Direction', 'inbound'],
      ['Channel-HIT-Dialplan', 'true'],
      ['Channel-Call-UUID', this.uuid],
      ['Answer-State', this.answerState],
    ];
    if (this.hangupCause) h.push(['Hangup-Cause', this.hangupCause]);
    h.push(
      ['Channel-Read-Codec-Name', this.codec],
      ['Channel-Read-Codec-Rate', rate],
      ['Channel-Read-Codec-Bit-Rate', bits],
      ['Channel-Write-Codec-Name', this.codec],
      ['Channel-Write-Codec-Rate', rate],
      ['Channel-Write-Codec-Bit-Rate', bits],
    );
    return h;
  }

  /** switch_caller_profile_event_set_data with the given prefix (`Caller`, or `Channel` in CHANNEL_DATA). */
  private profileHeaders(prefix: string): Array<[string, HeaderValue]> {
    const p = this.profile;
    const h: Array<[string, HeaderValue]> = [
      [`${prefix}-Direction`, 'inbound'],
      [`${prefix}-Logical-Direction`, 'inbound'],
      [`${prefix}-Dialplan`, p.dialplan],
      [`${prefix}-Caller-ID-Name`, p.callerIdName],
      [`${prefix}-Caller-ID-Number`, p.callerIdNumber],
      [`${prefix}-Orig-Caller-ID-Name`, p.callerIdName],
      [`${prefix}-Orig-Caller-ID-Number`, p.callerIdNumber],
      [`${prefix}-Callee-ID-Name`, p.calleeIdName],
      [`${prefix}-Callee-ID-Number`, p.calleeIdNumber],
      [`${prefix}-ANI`, p.callerIdNumber],
      [`${prefix}-Destination-Number`, p.destinationNumber],
      [`${prefix}-Unique-ID`, this.uuid],
      [`${prefix}-Source`, p.source],
    ];
    if (p.transferSource !== undefined) h.push([`${prefix}-Transfer-Source`, p.transferSource]);
    h.push([`${prefix}-Context`, p.context]);
    if (p.rdnis !== undefined) h.push([`${prefix}-RDNIS`, p.rdnis]);
    const hangup =
      this.runningState === 'CS_REPORTING' || this.runningState === 'CS_DESTROY' ? this.hangupUs : 0;
    h.push(
      [`${prefix}-Channel-Name`, this.name],
      [`${prefix}-Profile-Index`, String(p.index)],
      [`${prefix}-Profile-Created-Time`, String(p.createdUs)],
      [`${prefix}-Channel-Created-Time`, String(this.createdUs)],
      [`${prefix}-Channel-Answered-Time`, String(this.answeredUs)],
      [`${prefix}-Channel-Progress-Time`, '0'],
      [`${prefix}-Channel-Progress-Media-Time`, '0'],
      [`${prefix}-Channel-Hangup-Time`, String(hangup)],
      [`${prefix}-Channel-Transfer-Time`, '0'],
      [`${prefix}-Channel-Resurrect-Time`, '0'],
      [`${prefix}-Channel-Bridged-Time`, '0'],
      [`${prefix}-Channel-Last-Hold`, '0'],
      [`${prefix}-Channel-Hold-Accum`, '0'],
      [`${prefix}-Screen-Bit`, 'true'],
      [`${prefix}-Privacy-Hide-Name`, 'false'],
      [`${prefix}-Privacy-Hide-Number`, 'false'],
    );
    return h;
  }

  /** A channel event: base headers, channel state, caller profile, variables (verbose types), then `extra`. */
  event(
    name: string,
    extra: Array<[string, HeaderValue]> = [],
    opts: { subclass?: string; site?: string } = {},
  ): FsEvent {
    const headers: Array<[string, HeaderValue]> = [];
    if (opts.subclass) headers.push(['Event-Subclass', opts.subclass]);
    headers.push(...this.core.baseHeaders(name, opts.site));
    if (name === 'CHANNEL_HANGUP_COMPLETE' && this.hangupCause)
      headers.push(['Hangup-Cause', this.hangupCause]);
    headers.push(...this.channelHeaders(), ...this.profileHeaders('Caller'));
    if (VERBOSE.has(name)) headers.push(...this.vars.headers());
    headers.push(...extra);
    return { headers };
  }

  /** The outbound `connect` reply: the whole CHANNEL_DATA event, then the four reply headers, no body. */
  channelData(): FsEvent {
    return {
      headers: [
        ...this.core.baseHeaders('CHANNEL_DATA'),
        ...this.profileHeaders('Channel'),
        ...this.channelHeaders(),
        ...this.profileHeaders('Caller'),
        ...this.vars.headers(),
        ['Content-Type', 'command/reply'],
        ['Reply-Text', '+OK\n'],
        ['Socket-Mode', 'async'],
        ['Control', 'full'],
      ],
    };
  }

  /** The CDR variables FreeSWITCH sets in the reporting state, in the recorded order. */
  setCdrVariables(): void {
    setCdrVariables(this, this.profile.createdUs, this.profile.callerIdName, this.profile.callerIdNumber);
  }
}
