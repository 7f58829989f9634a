/**
 * Header names to decoded values, in null-prototype objects: a header named `__proto__` or `constructor` is a
 * plain key and absent names read undefined. (Measured: a dictionary object is also the fastest here, events
 * carry ~150 headers in varying sets; a fast-mode object with a null-prototype parent halved throughput.)
 */
export type EslHeaders = Record<string, string>;

/** An empty headers object (see EslHeaders). */
export function createHeaders(): EslHeaders {
  return Object.create(null) as EslHeaders;
}

interface EventBase {
  /** The Event-Name header as sent (`CHANNEL_PARK` for an `OTHER` event). */
  readonly eventName: string;
  readonly headers: EslHeaders;
  readonly body?: string;
  /** The Unique-ID header: the channel the event is about, when it is about one. */
  readonly uniqueId: string | undefined;
}

export interface ExecuteEvent extends EventBase {
  readonly name: 'CHANNEL_EXECUTE' | 'CHANNEL_EXECUTE_COMPLETE';
  readonly application: string;
  readonly applicationData: string;
  /** The `Event-UUID` of the sendmsg that queued the app (FreeSWITCH makes one up when there was none). */
  readonly applicationUuid: string;
  /** `Application-Response` (EXECUTE_COMPLETE only; `_none_` when the app set none). */
  readonly applicationResponse: string | undefined;
}

export interface HangupEvent extends EventBase {
  readonly name: 'CHANNEL_HANGUP' | 'CHANNEL_HANGUP_COMPLETE';
  readonly hangupCause: string;
}

export interface AnswerEvent extends EventBase {
  readonly name: 'CHANNEL_ANSWER';
}

export interface DtmfEvent extends EventBase {
  readonly name: 'DTMF';
  readonly digit: string;
}

export interface PlaybackEvent extends EventBase {
  readonly name: 'PLAYBACK_START' | 'PLAYBACK_STOP';
  readonly filePath: string;
  /** `done` or `break` on PLAYBACK_STOP. */
  readonly playbackStatus: string | undefined;
}

export interface RecordEvent extends EventBase {
  readonly name: 'RECORD_START' | 'RECORD_STOP';
  readonly filePath: string;
}

export interface BackgroundJobEvent extends EventBase {
  readonly name: 'BACKGROUND_JOB';
  readonly jobUuid: string;
  readonly jobCommand: string;
}

export interface CustomEvent extends EventBase {
  readonly name: 'CUSTOM';
  /** Event-Subclass, e.g. `mod_audio_stream::connect`. */
  readonly subclass: string;
}

/** Any other event (CHANNEL_STATE, CHANNEL_PARK, ...): read `eventName` and `headers`. */
export interface OtherEvent extends EventBase {
  readonly name: 'OTHER';
}

/** A FreeSWITCH event, discriminated by `name` for the events the daemon acts on. */
export type EslEvent =
  | ExecuteEvent
  | HangupEvent
  | AnswerEvent
  | DtmfEvent
  | PlaybackEvent
  | RecordEvent
  | BackgroundJobEvent
  | CustomEvent
  | OtherEvent;

export type EslEventName = EslEvent['name'];

/** Builds the typed event from decoded headers and body; never throws. */
export function toEvent(headers: EslHeaders, body: string | undefined): EslEvent {
  const eventName = headers['Event-Name'] ?? '';
  const h = (name: string): string => headers[name] ?? '';
  const base = {
    eventName,
    headers,
    uniqueId: headers['Unique-ID'],
    ...(body === undefined ? {} : { body }),
  };
  switch (eventName) {
    case 'CHANNEL_EXECUTE':
    case 'CHANNEL_EXECUTE_COMPLETE':
      return {
        ...base,
        name: eventName,
        application: h('Application'),
        applicationData: h('Application-Data'),
        applicationUuid: h('Application-UUID'),
        applicationResponse: headers['Application-Response'],
      };
    case 'CHANNEL_HANGUP':
    case 'CHANNEL_HANGUP_COMPLETE':
      return { ...base, name: eventName, hangupCause: h('Hangup-Cause') };
    case 'CHANNEL_ANSWER':
      return { ...base, name: eventName };
    case 'DTMF':
      return { ...base, name: eventName, digit: h('DTMF-Digit') };
    case 'PLAYBACK_START':
    case 'PLAYBACK_STOP':
      return {
        ...base,
        name: eventName,
        filePath: h('Playback-File-Path'),
        playbackStatus: headers['Playback-Status'],
      };
    case 'RECORD_START':
    case 'RECORD_STOP':
      return { ...base, name: eventName, filePath: h('Record-File-Path') };
    case 'BACKGROUND_JOB':
      return { ...base, name: eventName, jobUuid: h('Job-UUID'), jobCommand: h('Job-Command') };
    case 'CUSTOM':
      return { ...base, name: eventName, subclass: h('Event-Subclass') };
    default:
      return { ...base, name: 'OTHER' };
  }
}

const ARRAY_PREFIX = 'ARRAY::';

/**
 * The values of a header that FreeSWITCH holds as an array. Plain events carry them as `ARRAY::a|:b`;
 * JSON events carry a JSON array, which the parser stores in that same form so both formats read alike.
 */
export function headerValues(headers: EslHeaders, name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return v.startsWith(ARRAY_PREFIX) ? v.slice(ARRAY_PREFIX.length).split('|:') : [v];
}

/** Converts one text/event-json object (taken over, not copied) to headers and body; undefined if not an object. */
export function jsonToHeaders(value: unknown): { headers: EslHeaders; body: string | undefined } | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  for (const k in obj) {
    const v = obj[k];
    if (typeof v === 'string') continue;
    if (k === '__proto__')
      Object.defineProperty(obj, k, { value: stringify(v), enumerable: true, writable: true });
    else obj[k] = stringify(v);
  }
  let body: string | undefined;
  if (Object.hasOwn(obj, '_body')) {
    body = obj['_body'] as string;
    delete obj['_body'];
  }
  // Null prototype, like plain-event headers: `headers.constructor` is never Object's.
  Object.setPrototypeOf(obj, null);
  return { headers: obj as EslHeaders, body };
}

function stringify(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return ARRAY_PREFIX + v.map((x) => stringify(x)).join('|:');
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return v === null || v === undefined ? '' : JSON.stringify(v);
}
