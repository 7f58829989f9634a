/**
 * The api commands the daemon uses (mod_commands, mod_audio_stream), with the reply texts of
 * FreeSWITCH 1.10.12 as recorded. Unknown commands return undefined ("-ERR <cmd> Command not found!").
 */
import type { CallControl, Hub } from './hub.js';
import { audioStreamApi } from './audio-stream.js';

const NO_SUCH_CHANNEL = '-ERR No such channel!\n';

function status(startedAt: number, sessions: number): string {
  let us = Math.floor((performance.now() - startedAt) * 1000);
  const ms = Math.floor(us / 1000);
  us %= 1000;
  const s = Math.floor(ms / 1000);
  const parts = `UP 0 years, 0 days, ${Math.floor(s / 3600)} hours, ${Math.floor(s / 60) % 60} minutes, ${s % 60} seconds, ${ms % 1000} milliseconds, ${us} microseconds`;
  return (
    `${parts}\nFreeSWITCH (Version 1.10.12-release  64bit) is ready\n${sessions} session(s) since startup\n` +
    `0 session(s) - peak 2, last 5min 2 \n0 session(s) per Sec out of max 100, peak 2, last 5min 2 \n` +
    '1000 session(s) max\nmin idle cpu 0.00/99.03\nCurrent Stack Size/Max 240K/8192K\n'
  );
}

export interface ApiContext {
  hub: Hub;
  startedAt: number;
  sessionsSinceStartup(): number;
}

export async function runApi(
  ctx: ApiContext,
  command: string,
  arg: string | undefined,
): Promise<string | undefined> {
  const args = (arg ?? '').split(' ').filter((a) => a.length > 0);
  const find = (uuid: string | undefined): CallControl | undefined =>
    uuid === undefined ? undefined : ctx.hub.findCall(uuid);
  const call = find(args[0]);
  switch (command.toLowerCase()) {
    case 'status':
      return status(ctx.startedAt, ctx.sessionsSinceStartup());
    case 'version':
      return 'FreeSWITCH Version 1.10.12-release+git~20240802T210227Z~a88d069d6f~64bit (git a88d069 2024-08-02 21:02:27Z 64bit)\n';
    case 'hostname':
      return ctx.hub.core.identity.hostname;
    case 'uuid_exists':
      return call ? 'true' : 'false';
    case 'uuid_break':
      if (!call) return NO_SUCH_CHANNEL;
      call.breakApps(args[1]?.includes('all') ?? false);
      return '+OK\n';
    case 'uuid_kill':
      if (!call) return NO_SUCH_CHANNEL;
      call.kill(args[1] ?? 'NORMAL_CLEARING');
      return '+OK\n';
    case 'uuid_answer':
      if (!call) return NO_SUCH_CHANNEL;
      call.answer();
      return '+OK\n';
    case 'uuid_transfer': {
      if (!call) return NO_SUCH_CHANNEL;
      const rest = args.slice(1);
      if (rest[0] === '-bleg' || rest[0] === '-both') rest.shift();
      if (rest[0] === undefined)
        return '-USAGE: <uuid> [-bleg|-both] <dest-exten> [<dialplan>] [<context>]\n';
      call.transferTo(rest[0], rest[1], rest[2]);
      return '+OK\n';
    }
    case 'uuid_broadcast': {
      if (!call) return NO_SUCH_CHANNEL;
      if (args[1] === undefined) return '-USAGE: <uuid> <path> [aleg|bleg|both]\n';
      const leg = args[2] ?? 'aleg';
      if (leg === 'aleg' || leg === 'both') call.broadcast(args[1]);
      return '+OK Message sent\n';
    }
    case 'uuid_setvar': {
      if (args[1] === undefined) return '-USAGE: <uuid> <var> [value]\n';
      if (!call) return NO_SUCH_CHANNEL;
      const value = args.slice(2).join(' ');
      call.setVar(args[1], value.length > 0 ? value : undefined);
      return '+OK\n';
    }
    case 'uuid_setvar_multi': {
      if (args[1] === undefined) return '-USAGE: <uuid> <var>=<value>;<var>=<value>...\n';
      if (!call) return NO_SUCH_CHANNEL;
      for (const kv of args.slice(1).join(' ').split(';')) {
        const eq = kv.indexOf('=');
        if (eq > 0) call.setVar(kv.slice(0, eq), kv.slice(eq + 1));
      }
      return '+OK\n';
    }
    case 'uuid_getvar':
      if (args[1] === undefined) return '-USAGE: <uuid> <var>\n';
      if (!call) return NO_SUCH_CHANNEL;
      return call.getVar(args[1]) ?? '_undef_';
    case 'uuid_send_dtmf':
      if (!call) return NO_SUCH_CHANNEL;
      return `+OK ${args[0] ?? ''} sent DTMF ${args[1] ?? ''}.\n`;
    case 'uuid_audio_stream':
      return audioStreamApi(ctx.hub, call, arg ?? '');
    default:
      return undefined;
  }
}
