import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createPool } from '../store/db.js';
import { isTraversableByOthers, startEmbeddedPostgres, type EmbeddedCluster } from '../store/embedded.js';
import { ensureFusionPbxStandIn } from '../store/fusionpbx-standin.js';
import { migrate } from '../store/migrations.js';
import { createRepos } from '../store/repos/index.js';
import { parseFlags, printTable } from './args.js';
import type { ConversationOutcome } from '../conversation/session.js';
import { converse } from './chat.js';
import { DEMO_DOMAIN, DEMO_EXTENSION, DEMO_SCRIPT, seedDemo } from './demo-seed.js';
import { openTextSession } from './text-session.js';

export const demoHelp = `Usage: voice-ai demo [--data-dir DIR] [--no-speech]

Runs offline on embedded defaults: starts an embedded PostgreSQL in DIR (default .data/demo-pg), creates a
stand-in for FusionPBX's v_domains, applies the migrations, creates a demo tenant (${DEMO_DOMAIN}) whose
secretary Ana (extension ${DEMO_EXTENSION}) runs on offline providers (a retrieval responder over a small
clinic FAQ; espeak-ng for speech when installed), and holds a short scripted conversation through the real
conversation engine: it prints the transcript, the tool decisions and the rows written.
With DATABASE_URL set it uses that database instead of starting one.`;

export async function runDemo(
  argv: string[],
  config: Config,
  log: Logger,
  out: (s: string) => void,
): Promise<number> {
  const { values } = parseFlags(argv, { 'data-dir': { type: 'string' }, 'no-speech': { type: 'boolean' } });
  const dataRoot = path.resolve(values['data-dir'] ? path.dirname(values['data-dir']) : defaultDemoRoot());
  let cluster: EmbeddedCluster | undefined;
  let url = config.databaseUrl;
  if (url === undefined) {
    const dataDir = values['data-dir'] ?? path.join(dataRoot, 'demo-pg');
    out(`== starting embedded PostgreSQL in ${dataDir}`);
    cluster = await startEmbeddedPostgres({ dataDir, persistent: true });
    url = cluster.adminUrl;
  }
  const sql = createPool({ url, max: 4, applicationName: 'voice-ai-demo' });
  try {
    if (await ensureFusionPbxStandIn(sql))
      out('== created a stand-in v_domains table (FusionPBX owns the real one)');
    const result = await migrate(sql, { log: (msg, fields) => log.debug(fields ?? {}, msg) });
    out(`== migrations: ${result.applied.length} applied now, ${result.alreadyApplied} already applied`);

    const speech = !values['no-speech'] && hasEspeak();
    const { domainUuid } = await seedDemo(sql, speech);
    out(
      `== demo tenant ${DEMO_DOMAIN}: secretary Ana on extension ${DEMO_EXTENSION}, LLM "local" (offline)` +
        (speech ? ', TTS "espeak" (espeak-ng)' : ', no speech (espeak-ng not installed)'),
    );
    const audioDir = path.join(dataRoot, 'demo-audio');
    if (speech) await mkdir(audioDir, { recursive: true });
    const session = await openTextSession({
      sql,
      config: { ...config, spoolDir: path.join(dataRoot, 'demo-spool') },
      log,
      domain: DEMO_DOMAIN,
      extension: DEMO_EXTENSION,
      say: speech,
    });
    out('== conversation (the real engine: system prompt, history, tools, sentence streaming)');
    let outcome: ConversationOutcome;
    try {
      outcome = await converse(session, DEMO_SCRIPT, out, {
        log,
        ...(speech ? { say: { dir: audioDir, rateHz: 8000 } } : {}),
      });
    } finally {
      await session.close({ timeoutMs: 10_000 });
    }
    const conversationUuid = outcome.conversationUuid;
    out(
      `== outcome: ${outcome.resolution}${outcome.transferredTo === null ? '' : ` to extension ${outcome.transferredTo}`}`,
    );

    const repos = createRepos(sql);
    const conv = await repos.conversations.findByUuid(domainUuid, conversationUuid);
    out('== rows written to v_voice_conversations');
    printTable(
      conv
        ? [
            {
              conversation: conv.conversation_uuid,
              resolution: conv.resolution,
              transferred_to: conv.transferred_to,
              total_turns: conv.total_turns,
            },
          ]
        : [],
      false,
      out,
    );
    out('== rows written to v_voice_messages');
    printTable(
      (await repos.messages.listByConversation(domainUuid, conversationUuid)).map((m) => ({
        turn: m.turn,
        role: m.role,
        llm_ms: m.llm_first_token_ms,
        content: m.content.length > 70 ? `${m.content.slice(0, 67)}...` : m.content,
      })),
      false,
      out,
    );
    out(
      '== try it yourself: voice-ai chat --domain demo.voice-ai.local --extension 8000 (with the same DATABASE_URL)',
    );
    return conv?.resolution ? 0 : 1;
  } finally {
    await sql.end({ timeout: 5 });
    await cluster?.stop();
  }
}

function hasEspeak(): boolean {
  return spawnSync('espeak-ng', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * `.data` in the working directory, unless we run as root inside a folder the `postgres` user cannot
 * enter (a 0700 checkout): then a stable folder under the system temp dir, named after the working directory.
 */
function defaultDemoRoot(): string {
  const local = path.join(process.cwd(), '.data');
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!asRoot || isTraversableByOthers(local)) return local;
  const tag = createHash('sha256').update(process.cwd()).digest('hex').slice(0, 12);
  return path.join(tmpdir(), `voice-ai-demo-${tag}`);
}
