import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { systemClock } from '../core/clock.js';
import { runConversation, type ConversationOutcome } from '../conversation/session.js';
import { PromptCache } from '../conversation/speech.js';
import { createPool } from '../store/db.js';
import { parseFlags } from './args.js';
import { required } from './resolve.js';
import { TextMedia } from './text-media.js';
import { openTextSession, type TextSession } from './text-session.js';

export const chatHelp = `Usage: voice-ai chat --domain <name|uuid> --extension <n> [--say DIR] [-m "text" ...]

Talks to a secretary in text through the same conversation engine as a call: its greeting, prompt, history,
tools, phrases and LLM providers (STT is skipped: you type). Prints each reply with its tool decisions and
latency. A line that is just 0 or * is that DTMF key (operator, hang up). --say also synthesizes what the
secretary says to WAV files in DIR with the secretary's TTS provider.
-m/--message (repeatable) sends scripted lines instead of reading stdin. The conversation is stored like a call's.`;

/**
 * Runs typed or scripted lines through the conversation engine (the one calls use) on the text media, until
 * the lines run out or the secretary ends or transfers the call.
 */
export async function converse(
  session: TextSession,
  lines: AsyncIterable<string> | Iterable<string>,
  out: (s: string) => void,
  opts: { log: Logger; say?: { dir: string; rateHz: number } },
): Promise<ConversationOutcome> {
  const callUuid = `chat-${randomUUID()}`;
  const media = new TextMedia({
    callUuid,
    clock: systemClock,
    lines,
    out,
    ...(opts.say ? { say: opts.say } : {}),
  });
  const callDir = await mkdtemp(path.join(tmpdir(), 'voice-ai-chat-'));
  // The engine logs every turn at info for the journal; on a console that is noise next to the transcript.
  const log = opts.log.isLevelEnabled('debug') ? opts.log : opts.log.child({}, { level: 'warn' });
  return runConversation({
    media,
    // A typed conversation waits on a person at a keyboard: the call's duration limit does not apply.
    secretary: { ...session.profile, maxCallSeconds: Math.max(session.profile.maxCallSeconds, 86_400) },
    providers: { llm: session.llm, ...(session.tts ? { tts: session.tts } : {}) },
    sink: session.queue,
    callDir,
    prompts: new PromptCache(path.join(callDir, 'prompts'), systemClock),
    caller: { number: null, name: 'voice-ai chat', destination: null },
    log,
    clock: systemClock,
    onReply: (r) => media.report(r),
  });
}

export async function runChat(
  argv: string[],
  config: Config,
  log: Logger,
  out: (s: string) => void,
): Promise<number> {
  const { values } = parseFlags(argv, {
    domain: { type: 'string' },
    extension: { type: 'string' },
    say: { type: 'string' },
    message: { type: 'string', short: 'm', multiple: true },
  });
  const extension = required(values.extension, 'extension');
  const sql = createPool({ url: config.databaseUrl ?? '', max: 4, applicationName: 'voice-ai-chat' });
  try {
    const sayDir = values.say === undefined ? undefined : path.resolve(values.say);
    if (sayDir) await mkdir(sayDir, { recursive: true });
    const session = await openTextSession({
      sql,
      config: { ...config, spoolDir: path.join(config.spoolDir, 'chat') },
      log,
      domain: required(values.domain, 'domain'),
      extension,
      say: sayDir !== undefined,
    });
    out(
      `# ${session.secretary.name} (${extension}@${session.domainName}), llm ${session.llmName}${session.ttsName ? `, tts ${session.ttsName}` : ''}`,
    );
    const lines = values.message ?? createInterface({ input: process.stdin, terminal: false });
    try {
      const result = await converse(session, lines, out, {
        log,
        ...(sayDir ? { say: { dir: sayDir, rateHz: 16000 } } : {}),
      });
      out(`# ${result.resolution}; conversation ${result.conversationUuid}`);
    } finally {
      await session.close({ timeoutMs: 10_000 });
    }
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
