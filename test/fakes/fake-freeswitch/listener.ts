/**
 * One event listener (an inbound connection or an outbound call socket): what it subscribed to, its
 * filters, and the queue that delivers events after a short latency, interleaved with replies the way
 * mod_event_socket's listener thread does it (replies at once, queued events on the next poll).
 */
import type { Socket } from 'node:net';
import type { EventFormat, FsEvent } from './wire.js';
import { eventFrame, headerOf } from './wire.js';

const MYEVENTS = [
  'CHANNEL_ANSWER',
  'CHANNEL_APPLICATION',
  'CHANNEL_BRIDGE',
  'CHANNEL_CREATE',
  'CHANNEL_DATA',
  'CHANNEL_DESTROY',
  'CHANNEL_EXECUTE',
  'CHANNEL_EXECUTE_COMPLETE',
  'CHANNEL_HANGUP',
  'CHANNEL_HANGUP_COMPLETE',
  'CHANNEL_ORIGINATE',
  'CHANNEL_UUID',
  'CHANNEL_OUTGOING',
  'CHANNEL_PARK',
  'CHANNEL_PROGRESS',
  'CHANNEL_PROGRESS_MEDIA',
  'CHANNEL_STATE',
  'CHANNEL_UNBRIDGE',
  'CHANNEL_UNPARK',
  'DETECTED_SPEECH',
  'DTMF',
  'NOTALK',
  'TALK',
];

/** EVENT_NAMES of switch_event.c: the words `event`/`nixevent` accept (anything else is skipped). */
const KNOWN_EVENTS = new Set(
  (
    'CUSTOM CLONE CHANNEL_CREATE CHANNEL_DESTROY CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_ANSWER CHANNEL_HANGUP ' +
    'CHANNEL_HANGUP_COMPLETE CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_HOLD CHANNEL_UNHOLD CHANNEL_BRIDGE ' +
    'CHANNEL_UNBRIDGE CHANNEL_PROGRESS CHANNEL_PROGRESS_MEDIA CHANNEL_OUTGOING CHANNEL_PARK CHANNEL_UNPARK ' +
    'CHANNEL_APPLICATION CHANNEL_ORIGINATE CHANNEL_UUID API LOG INBOUND_CHAN OUTBOUND_CHAN STARTUP SHUTDOWN ' +
    'PUBLISH UNPUBLISH TALK NOTALK SESSION_CRASH MODULE_LOAD MODULE_UNLOAD DTMF MESSAGE PRESENCE_IN NOTIFY_IN ' +
    'PRESENCE_OUT PRESENCE_PROBE MESSAGE_WAITING MESSAGE_QUERY ROSTER CODEC BACKGROUND_JOB DETECTED_SPEECH ' +
    'DETECTED_TONE PRIVATE_COMMAND HEARTBEAT TRAP ADD_SCHEDULE DEL_SCHEDULE EXE_SCHEDULE RE_SCHEDULE RELOADXML ' +
    'NOTIFY PHONE_FEATURE PHONE_FEATURE_SUBSCRIBE SEND_MESSAGE RECV_MESSAGE REQUEST_PARAMS CHANNEL_DATA GENERAL ' +
    'COMMAND SESSION_HEARTBEAT CLIENT_DISCONNECTED SERVER_DISCONNECTED SEND_INFO RECV_INFO RECV_RTCP_MESSAGE ' +
    'SEND_RTCP_MESSAGE CALL_SECURE NAT RECORD_START RECORD_STOP PLAYBACK_START PLAYBACK_STOP CALL_UPDATE FAILURE ' +
    'SOCKET_DATA MEDIA_BUG_START MEDIA_BUG_STOP CONFERENCE_DATA_QUERY CONFERENCE_DATA CALL_SETUP_REQ ' +
    'CALL_SETUP_RESULT CALL_DETAIL DEVICE_STATE TEXT SHUTDOWN_REQUESTED ALL'
  ).split(' '),
);

export class Subscription {
  format: EventFormat = 'plain';
  enabled = false;
  private all = false;
  private readonly names = new Set<string>();
  private readonly subclasses = new Set<string>();
  private filters: Array<[string, string]> = [];
  myevents = false;
  /** The session a myevents listener is bound to. */
  sessionUuid: string | undefined;

  /** `event [plain|json|xml] NAME... [CUSTOM sub...]`; returns the Reply-Text. */
  event(args: string[]): string {
    let keyCount = 0;
    let custom = false;
    args.forEach((word, i) => {
      if (i === 0 && ['plain', 'json', 'xml'].includes(word.toLowerCase())) {
        this.format = word.toLowerCase() as EventFormat;
        return;
      }
      if (custom) {
        this.subclasses.add(word);
        return;
      }
      const name = word.toUpperCase();
      if (!KNOWN_EVENTS.has(name)) return;
      keyCount++;
      if (name === 'ALL') this.all = true;
      this.names.add(name);
      if (name === 'CUSTOM') custom = true;
    });
    if (keyCount === 0) return '-ERR no keywords supplied';
    this.enabled = true;
    return `+OK event listener enabled ${this.format}`;
  }

  nixevent(args: string[]): string {
    let keyCount = 0;
    let custom = false;
    for (const word of args) {
      if (custom) {
        this.subclasses.delete(word);
        continue;
      }
      const name = word.toUpperCase();
      if (!KNOWN_EVENTS.has(name)) continue;
      keyCount++;
      if (name === 'CUSTOM') custom = true;
      else if (name === 'ALL') {
        this.all = false;
        this.names.clear();
      } else {
        this.names.delete(name);
      }
    }
    if (keyCount === 0) return '-ERR no keywords supplied';
    this.enabled = true;
    return '+OK events nixed';
  }

  noevents(): string {
    if (!this.enabled) return '-ERR not listening for events';
    this.enabled = false;
    this.all = false;
    this.names.clear();
    this.subclasses.clear();
    return '+OK no longer listening for events';
  }

  enableMyevents(sessionUuid: string, format: EventFormat | undefined): string {
    if (this.myevents) return '-ERR aready enabled.';
    this.myevents = true;
    this.sessionUuid = sessionUuid;
    for (const n of MYEVENTS) this.names.add(n);
    this.enabled = true;
    if (format) this.format = format;
    return '+OK Events Enabled';
  }

  /** `filter <Header> <value>`, `filter delete <Header> [<value>]`, `filter delete all`. */
  filter(rest: string): string {
    const trimmed = rest.replace(/^ +/, '');
    const sp = trimmed.indexOf(' ');
    const name = sp < 0 ? trimmed : trimmed.slice(0, sp);
    let value = sp < 0 ? undefined : trimmed.slice(sp + 1);
    if (name.toLowerCase() === 'delete' && value !== undefined) {
      const sp2 = value.indexOf(' ');
      const header = sp2 < 0 ? value : value.slice(0, sp2);
      const val = sp2 < 0 ? undefined : value.slice(sp2 + 1);
      if (header.toLowerCase() === 'all') this.filters = [];
      else
        this.filters = this.filters.filter(([h, v]) => !(h === header && (val === undefined || v === val)));
      return `+OK filter deleted. [${header}][${val ?? ''}]`;
    }
    if (value === undefined) return '-ERR invalid syntax';
    let header = name;
    if (name.toLowerCase() === 'add') {
      const sp2 = value.indexOf(' ');
      header = sp2 < 0 ? value : value.slice(0, sp2);
      value = sp2 < 0 ? '' : value.slice(sp2 + 1);
    }
    this.filters.push([header, value]);
    return `+OK filter added. [${header}]=[${value}]`;
  }

  /** event_handler: subscription, CUSTOM subclass, filters (ORed, +/- prefixes, /regex/), myevents uuid. */
  wants(event: FsEvent): boolean {
    if (!this.enabled) return false;
    const name = headerOf(event, 'Event-Name') ?? '';
    let send = this.all;
    if (!send && this.names.has(name)) {
      const sub = headerOf(event, 'Event-Subclass');
      send = name !== 'CUSTOM' || sub === undefined || this.subclasses.has(sub);
    }
    if (send && this.filters.length > 0) {
      send = false;
      for (const [h, raw] of this.filters) {
        const hval = headerOf(event, h);
        if (hval === undefined) continue;
        let comp = raw;
        let pos = true;
        while (comp.length > 0 && '+- '.includes(comp[0] as string)) {
          if (comp[0] === '+') pos = true;
          else if (comp[0] === '-') pos = false;
          comp = comp.slice(1);
        }
        if (send && pos) continue;
        const match = comp.startsWith('/')
          ? new RegExp(comp.replace(/^\/|\/$/g, '')).test(hval)
          : hval.toLowerCase() === comp.toLowerCase();
        if (match) {
          if (pos) send = true;
          else {
            send = false;
            break;
          }
        }
      }
    }
    if (send && this.myevents) {
      const uuid = headerOf(event, 'Unique-ID');
      if (name === 'BACKGROUND_JOB') return headerOf(event, 'Job-Owner-UUID') === this.sessionUuid;
      if (uuid === undefined || uuid !== this.sessionUuid) send = false;
    }
    return send;
  }
}

type OutItem = { kind: 'event'; event: FsEvent } | { kind: 'raw'; bytes: Buffer; then?: () => void };

/** Writes replies at once and queued events/notices after `latencyMs`, in queue order. */
export class Outlet {
  private readonly queue: OutItem[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stalledUntil = 0;
  closed = false;
  /** Drops new events (FreeSWITCH may lose the events after CHANNEL_HANGUP without linger). */
  muted = false;

  constructor(
    private readonly socket: Socket,
    readonly subscription: Subscription,
    private readonly latencyMs: number,
  ) {}

  reply(bytes: Buffer): void {
    if (!this.closed) this.socket.write(bytes);
  }

  /** Called for every fired event; queues it when this listener subscribed to it. */
  offer(event: FsEvent): void {
    if (this.closed || this.muted || !this.subscription.wants(event)) return;
    this.queue.push({ kind: 'event', event });
    this.schedule();
  }

  /** Queues raw bytes behind the pending events (disconnect notices must follow the events). */
  enqueueRaw(bytes: Buffer, then?: () => void): void {
    if (this.closed) return;
    this.queue.push(then ? { kind: 'raw', bytes, then } : { kind: 'raw', bytes });
    this.schedule();
  }

  stall(ms: number): void {
    this.stalledUntil = Date.now() + ms;
  }

  hasPending(): boolean {
    return this.queue.length > 0;
  }

  private schedule(): void {
    if (this.timer) return;
    const wait = Math.max(this.latencyMs, this.stalledUntil - Date.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (Date.now() < this.stalledUntil) {
      this.schedule();
      return;
    }
    const chunks: Buffer[] = [];
    const after: Array<() => void> = [];
    while (this.queue.length > 0) {
      const item = this.queue.shift() as OutItem;
      if (item.kind === 'event') chunks.push(eventFrame(item.event, this.subscription.format));
      else {
        chunks.push(item.bytes);
        if (item.then) {
          after.push(item.then);
          break;
        }
      }
    }
    if (chunks.length > 0 && !this.closed) this.socket.write(Buffer.concat(chunks));
    for (const f of after) f();
    if (this.queue.length > 0) this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}
