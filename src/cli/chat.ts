import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { TextConversation, TextReply } from '../conversation/text.js';
import { createPool } from '../store/db.js';
import { parseFlags } from './args.js';
import { required } from './resolve.js';
import { openTextSession } from './text-session.js';

export const chatHelp = `Usage: voice-ai chat --domain <name|uuid> --extension <n> [--say DIR] [-m "text" ...]

Talks to a secretary in text through the same conversation engine as a call: its prompt, history, tools and
LLM providers (STT is skipped: you type). Prints each sentence as it streams, the tool decisions and the
latency. --say also synthesizes every sentence to a WAV file in DIR with the secretary's TTS provider.
-m/--message (repeatable) sends scripted lines instead of reading stdin. The conversation is stored like a call's.`;

/** Prints one reply: sentences, tools, latency, audio files. */
export function printReply(reply: TextReply, out: (s: string) => void, who = 'secretary'): void {
  out(`${who}> ${reply.text || '(no text)'}`);
  for (const t of reply.toolCalls) out(`  [tool] ${t.name}(${t.arguments})`);
  if (reply.action.type !== 'none')
    out(`  [decision] ${reply.action.type === 'transfer' ? 'transfer to the operator' : 'end the call'}`);
  const first = reply.llmFirstTokenMs === null ? '-' : `${Math.round(reply.llmFirstTokenMs)} ms`;
  out(
    `  [latency] llm first token ${first}, reply ${Math.round(reply.totalMs)} ms, ${reply.sentences.length} sentence(s)`,
  );
  for (const a of reply.audio)
    out(
      `  [audio] ${a.file} (${(a.durationMs / 1000).toFixed(1)} s, first byte ${Math.round(a.firstByteMs)} ms)`,
    );
}

/** Runs lines through the conversation until they run out or the secretary ends/transfers the call. */
export async function converse(
  conversation: TextConversation,
  lines: AsyncIterable<string> | Iterable<string>,
  out: (s: string) => void,
  transferTo: string | null,
): Promise<'completed' | 'transferred'> {
  out(`secretary> ${conversation.greeting}`);
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    out(`caller> ${line}`);
    const reply = await conversation.send(line, AbortSignal.timeout(120_000));
    printReply(reply, out);
    if (reply.action.type === 'transfer') {
      conversation.end('transferred', transferTo);
      return 'transferred';
    }
    if (reply.action.type === 'end_call') break;
  }
  conversation.end('completed');
  return 'completed';
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
      ...(sayDir ? { say: { dir: sayDir, rateHz: 16000 } } : {}),
    });
    out(
      `# ${session.secretary.name} (${extension}@${session.domainName}), llm ${session.llmName}${session.ttsName ? `, tts ${session.ttsName}` : ''}`,
    );
    const lines = values.message ?? createInterface({ input: process.stdin, terminal: false });
    try {
      const result = await converse(session.conversation, lines, out, session.secretary.transfer_extension);
      out(`# ${result}; conversation ${session.conversation.transcript.conversationUuid}`);
    } finally {
      await session.close({ timeoutMs: 10_000 });
    }
    return 0;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
