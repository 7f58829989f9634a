import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import { parseFlags, printTable, runSubcommand } from './args.js';
import { intFlag, positionals, requireUuid, resolveDomain, withRepos } from './resolve.js';
import { terminalSafeLine } from './terminal.js';

export const conversationsHelp = `Usage:
  voice-ai conversations list --domain D [--since 7d|24h|30m|ISO-DATE] [--limit N] [--json]
  voice-ai conversations show UUID --domain D [--json]

list: the domain's calls, newest first, with their message counts (default: the last 7 days, 50 calls).
show: one call and its transcript with per-turn latency (stt_ms, llm_first_token_ms, tts_first_byte_ms,
turn_ms).`;

type Out = (s: string) => void;

/** `voice-ai conversations <sub-command>`: returns the exit code. */
export async function runConversations(
  argv: string[],
  config: Config,
  _log: Logger,
  out: Out,
): Promise<number> {
  const [sub, ...rest] = argv;
  return runSubcommand(
    sub,
    { list: () => list(rest, config, out), show: () => show(rest, config, out) },
    conversationsHelp,
    out,
  );
}

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `7d`, `24h`, `30m` before `now`, or an ISO date/time. */
export function parseSince(value: string, now: Date): Date {
  const rel = /^(\d{1,6})([mhd])$/.exec(value.trim());
  if (rel) return new Date(now.getTime() - Number(rel[1]) * (UNIT_MS[rel[2] ?? 'd'] ?? 0));
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) {
    throw new InvalidInputError(
      `--since: expected 7d, 24h, 30m or an ISO date such as 2025-01-31, got "${value}"`,
    );
  }
  return new Date(ms);
}

async function list(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    since: { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
  });
  positionals(args, 0, 'voice-ai conversations list --domain D [--since 7d] [--limit N] [--json]');
  const since = parseSince(values.since ?? '7d', new Date());
  const limit = intFlag(values.limit, 'limit', 1, 10_000) ?? 50;
  const rows = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    return repos.conversations.history(domain.domain_uuid, { since, limit });
  });
  if (values.json === true) {
    printTable(rows as unknown as Record<string, unknown>[], true, out);
    return 0;
  }
  printTable(
    rows.map((c) => ({
      conversation_uuid: c.conversation_uuid,
      started_at: c.started_at,
      caller: c.caller_id,
      destination: c.destination_number,
      seconds: c.duration_seconds,
      turns: c.total_turns,
      messages: c.message_count,
      resolution: c.resolution,
      transferred_to: c.transferred_to,
    })),
    false,
    out,
  );
  return 0;
}

async function show(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    json: { type: 'boolean' },
  });
  const [which] = positionals(args, 1, 'voice-ai conversations show UUID --domain D');
  const uuid = requireUuid(which, 'conversation');
  const { conversation, messages } = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const conversation = await repos.conversations.findByUuid(domain.domain_uuid, uuid);
    if (conversation === undefined)
      throw new InvalidInputError(`no conversation ${uuid} in ${domain.domain_name}`);
    return { conversation, messages: await repos.messages.listByConversation(domain.domain_uuid, uuid) };
  });
  const turns = messages.map((m) => ({
    turn: m.turn,
    role: m.role,
    stt_ms: m.stt_ms,
    llm_first_token_ms: m.llm_first_token_ms,
    tts_first_byte_ms: m.tts_first_byte_ms,
    turn_ms: m.turn_ms,
    // Last, so a long line does not push the numbers off screen.
    text: values.json === true ? m.content : m.content.replace(/\s*\n\s*/g, ' '),
  }));
  if (values.json === true) {
    out(JSON.stringify({ conversation, messages: turns }, null, 2));
    return 0;
  }
  const c = conversation;
  out(`conversation ${c.conversation_uuid} (call ${c.call_uuid})`);
  // The caller chose the name (and the trunk the number): a line break in it must not fake a line here.
  const caller = terminalSafeLine(`${c.caller_id ?? '?'} ${c.caller_id_name ?? ''}`.trimEnd());
  out(`  caller ${caller} -> ${terminalSafeLine(c.destination_number ?? '?')}`);
  out(
    `  started ${c.started_at.toISOString()}, ${c.duration_seconds ?? '?'} s, ${c.total_turns} turns, ${c.processing_mode}`,
  );
  out(
    `  resolution ${c.resolution ?? '(in progress)'}${c.transferred_to ? `, transferred to ${c.transferred_to}` : ''}`,
  );
  out('');
  printTable(turns, false, out);
  return 0;
}
