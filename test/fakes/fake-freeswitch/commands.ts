/**
 * parse_command of mod_event_socket for an authenticated listener, in FreeSWITCH's order of prefix
 * checks. Session-only commands (connect, linger, myevents without uuid, getvar) are delegated.
 */
import type { Hub } from './hub.js';
import type { Outlet, Subscription } from './listener.js';
import { newUuid } from './switch-core.js';
import type { ClientCommand, EventFormat, HeaderValue } from './wire.js';
import { apiResponse, bgapiReply, commandHeader, commandReply } from './wire.js';

export interface SessionHooks {
  readonly uuid: string;
  connect(): void;
  getvar(name: string): string;
  linger(seconds: number | undefined): string;
  nolinger(): string;
  resume(): void;
  /** sendmsg for this session (no uuid, or its own uuid). */
  sendmsg(cmd: ClientCommand): void;
  afterMyevents(): void;
}

export interface ListenerCtx {
  hub: Hub;
  sub: Subscription;
  outlet: Outlet;
  session?: SessionHooks | undefined;
  /** `exit`: after the reply, the listener sends the disconnect notice and closes. */
  exit(): void;
  logApi(line: string): void;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', 'enabled', 'active', 'allow', '1']);

export function switchTrue(value: string | undefined): boolean {
  return value !== undefined && TRUE_WORDS.has(value.trim().toLowerCase());
}

function startsWith(line: string, prefix: string): boolean {
  return line.slice(0, prefix.length).toLowerCase() === prefix;
}

function splitCommand(text: string): [string, string | undefined] {
  const sp = text.indexOf(' ');
  return sp < 0 ? [text, undefined] : [text.slice(0, sp), text.slice(sp + 1)];
}

export async function handleCommand(ctx: ListenerCtx, cmd: ClientCommand): Promise<void> {
  const line = cmd.line.replace(/\r$/, '');
  const reply = (text: string): void => ctx.outlet.reply(commandReply(text));
  const s = ctx.session;

  if (startsWith(line, 'exit') || startsWith(line, '...')) {
    reply('+OK bye');
    ctx.exit();
    return;
  }
  if (startsWith(line, 'filter ')) return reply(ctx.sub.filter(line.slice(7)));
  if (s && startsWith(line, 'resume')) {
    s.resume();
    return reply('+OK');
  }
  if (s || startsWith(line, 'myevents ')) {
    if (s && startsWith(line, 'connect')) return s.connect();
    if (s && startsWith(line, 'getvar')) {
      const name = line.split(' ')[1];
      const value = name === undefined ? '' : s.getvar(name);
      // An empty reply becomes "-ERR command not found" in parse_command.
      return reply(value.length > 0 ? value : '-ERR command not found');
    }
    if (startsWith(line, 'myevents')) return reply(myevents(ctx, line));
  }
  if (startsWith(line, 'divert_events')) {
    if (!s) return reply('-ERR not controlling a session.');
    const v = line.slice(13).trim();
    if (v.length === 0) return reply('-ERR missing value.');
    return reply(v.toLowerCase() === 'on' ? '+OK events diverted' : '+OK events not diverted');
  }
  if (startsWith(line, 'sendmsg')) return reply(sendmsg(ctx, line, cmd));
  if (startsWith(line, 'sendevent')) return reply(sendevent(ctx, line, cmd));
  if (startsWith(line, 'api ')) {
    const [command, arg] = splitCommand(line.slice(4));
    ctx.logApi(line.slice(4));
    const out = await ctx.hub.runApi(command, arg);
    ctx.outlet.reply(apiResponse(out ?? `-ERR ${command} Command not found!\n`));
    return;
  }
  if (startsWith(line, 'bgapi ')) {
    const [command, arg] = splitCommand(line.slice(6));
    ctx.logApi(line.slice(6));
    const jobUuid = commandHeader(cmd, 'Job-UUID') ?? newUuid();
    ctx.outlet.reply(bgapiReply(jobUuid));
    // bgapi runs in its own thread: the listener goes on with the next command.
    void ctx.hub.runApi(command, arg).then((out) => {
      const body =
        out === undefined ? `-ERR ${command} Command not found!\n` : out || 'Command returned no output!';
      ctx.hub.fire(ctx.hub.core.backgroundJob(jobUuid, command, arg, body, s?.uuid));
    });
    return;
  }
  if (startsWith(line, 'log')) return reply('+OK log level debug [7]');
  if (startsWith(line, 'linger')) {
    if (!s) return reply('-ERR not controlling a session');
    const n = line.charAt(6) === ' ' && line.length > 7 ? Number.parseInt(line.slice(7), 10) || 0 : undefined;
    return reply(s.linger(n));
  }
  if (startsWith(line, 'nolinger')) return reply(s ? s.nolinger() : '-ERR not controlling a session');
  if (startsWith(line, 'nolog')) return reply('-ERR not loging');
  if (startsWith(line, 'event')) return reply(ctx.sub.event(words(line)));
  if (startsWith(line, 'nixevent')) return reply(ctx.sub.nixevent(words(line)));
  if (startsWith(line, 'noevents')) return reply(ctx.sub.noevents());
  reply('-ERR command not found');
}

function words(line: string): string[] {
  return line
    .split(' ')
    .slice(1)
    .filter((w) => w.length > 0);
}

function formatIn(text: string): EventFormat | undefined {
  if (/xml/i.test(text)) return 'xml';
  if (/json/i.test(text)) return 'json';
  return undefined;
}

/** `myevents [fmt]` on an outbound session, `myevents <uuid> [fmt]` on an inbound connection. */
function myevents(ctx: ListenerCtx, line: string): string {
  if (ctx.sub.myevents) return '-ERR aready enabled.';
  if (ctx.session) {
    const out = ctx.sub.enableMyevents(ctx.session.uuid, formatIn(line));
    ctx.session.afterMyevents();
    return out;
  }
  const [uuid = '', fmt] = line.slice(9).trim().split(' ');
  if (!ctx.hub.findCall(uuid) && fmt !== undefined) return '-ERR invalid uuid';
  return ctx.sub.enableMyevents(uuid, fmt ? (formatIn(fmt) ?? 'plain') : undefined);
}

function sendmsg(ctx: ListenerCtx, line: string, cmd: ClientCommand): string {
  let uuid: string | undefined = line.slice(7).trim();
  if (uuid.length === 0) uuid = commandHeader(cmd, 'session-id');
  const s = ctx.session;
  if (s && (uuid === undefined || uuid === s.uuid)) {
    s.sendmsg(cmd);
    return '+OK';
  }
  const call = uuid === undefined ? undefined : ctx.hub.findCall(uuid);
  if (!call) return `-ERR invalid session id [${uuid ?? ''}]`;
  call.sendmsg(cmd.headers, cmd.body);
  return '+OK';
}

/** `sendevent NAME` with headers (and body): fired as is, with an Event-UUID the reply returns. */
function sendevent(ctx: ListenerCtx, line: string, cmd: ClientCommand): string {
  const eventUuid = newUuid();
  const name = line.slice(9).trim().toUpperCase() || 'CUSTOM';
  const headers: Array<[string, HeaderValue]> = [['Command', line]];
  let subclass: string | undefined;
  for (const [n, v] of cmd.headers) {
    if (n.toLowerCase() === 'event-subclass') subclass = v;
    else headers.push([n, v]);
  }
  headers.push(['Event-UUID', eventUuid]);
  const base = ctx.hub.core.baseHeaders(name, 'SENDEVENT');
  const all: Array<[string, HeaderValue]> = [
    ...(subclass ? [['Event-Subclass', subclass] as [string, HeaderValue]] : []),
    ...headers,
    ...base,
  ];
  ctx.hub.fire({ headers: all, body: cmd.body });
  return `+OK ${eventUuid}`;
}
