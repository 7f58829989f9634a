import type { Logger } from 'pino';
import { loadConfig, type Config, type ConfigNeeds } from '../config.js';
import { VoiceAiError } from '../core/errors.js';
import { createLogger } from '../logger.js';
import { chatHelp, runChat } from './chat.js';
import { conversationsHelp, runConversations } from './conversations.js';
import { runDemo, demoHelp } from './demo.js';
import { dialplanHelp, runDialplan } from './dialplan.js';
import { doctorHelp, runDoctor } from './doctor.js';
import { domainsHelp, runDomains } from './domains.js';
import { runMigrate, migrateHelp } from './migrate.js';
import { providersHelp, runProviders } from './providers.js';
import { runDaemon, runHelp } from './run.js';
import { runSecretaries, secretariesHelp } from './secretaries.js';
import { terminalSafe } from './terminal.js';

type Command = {
  summary: string;
  help: string;
  needs: ConfigNeeds;
  run: (argv: string[], config: Config, log: Logger, out: (s: string) => void) => Promise<number>;
};

const commands: Record<string, Command> = {
  migrate: {
    summary: 'apply or list database migrations',
    help: migrateHelp,
    needs: { database: true },
    run: runMigrate,
  },
  chat: {
    summary: 'talk to a secretary in text (same engine as a call)',
    help: chatHelp,
    needs: { database: true },
    run: runChat,
  },
  run: {
    summary: 'run the daemon (systemd ExecStart)',
    help: runHelp,
    needs: { database: true, encryptionKey: true },
    run: runDaemon,
  },
  demo: { summary: 'offline demo on an embedded PostgreSQL', help: demoHelp, needs: {}, run: runDemo },
  domains: {
    summary: "list FusionPBX's domains",
    help: domainsHelp,
    needs: { database: true },
    run: runDomains,
  },
  // Only some sub-commands need the encryption key: they check for it themselves.
  providers: {
    summary: 'add, list, update, remove, test AI providers',
    help: providersHelp,
    needs: { database: true },
    run: runProviders,
  },
  secretaries: {
    summary: 'add, list, update, disable secretaries',
    help: secretariesHelp,
    needs: { database: true },
    run: runSecretaries,
  },
  conversations: {
    summary: 'call history and transcripts',
    help: conversationsHelp,
    needs: { database: true },
    run: runConversations,
  },
  dialplan: {
    summary: 'install or remove the FusionPBX dialplan entry',
    help: dialplanHelp,
    needs: { database: true },
    run: runDialplan,
  },
  doctor: {
    summary: 'check configuration, database, ESL, directories, providers',
    help: doctorHelp,
    needs: {},
    run: runDoctor,
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`);
  return `Usage: voice-ai <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nEvery command takes --help.`;
}

/** Where the CLI writes (tests capture it). */
export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

const processIo: CliIo = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/**
 * The `voice-ai` command. Only this function decides the process exit code. Everything it writes (output,
 * errors, log lines) has its terminal controls escaped: much of it comes from callers and LLMs.
 */
export async function cli(
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
  rawIo: CliIo = processIo,
): Promise<number> {
  const io: CliIo = {
    stdout: (s) => rawIo.stdout(terminalSafe(s)),
    stderr: (s) => rawIo.stderr(terminalSafe(s)),
  };
  const out = (s: string): void => io.stdout(`${s}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(usage());
    return name === undefined ? 2 : 0;
  }
  // Own properties only: "constructor" or "toString" are not commands.
  const command = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!command) {
    io.stderr(`voice-ai: unknown command "${name}"\n${usage()}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    out(command.help);
    return 0;
  }
  let log: Logger | undefined;
  try {
    const config = loadConfig(env, { needs: command.needs });
    // The daemon logs JSON to stdout (journald); other commands log to stderr so stdout stays their output.
    log = createLogger({
      level: config.logLevel,
      pii: config.logPii,
      ...(name === 'run' ? {} : { destination: { write: (s: string) => io.stderr(s) } }),
    });
    return await command.run(rest, config, log, out);
  } catch (err) {
    if (err instanceof VoiceAiError) {
      io.stderr(`voice-ai ${name}: ${err.message}\n`);
      return err.code === 'E_CONFIG' || err.code === 'E_INVALID_INPUT' ? 2 : 1;
    }
    // Database and network failures (postgres.js errors carry a `code`) are one clear line; anything else is
    // a bug, and its stack is worth printing.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      const hint = /^(ECONNREFUSED|ENOTFOUND|ETIMEDOUT|CONNECT_TIMEOUT|28P01|3D000)$/.test(code)
        ? ' (is DATABASE_URL right and PostgreSQL running?)'
        : '';
      io.stderr(`voice-ai ${name}: ${(err as Error).message} [${code}]${hint}\n`);
      return 1;
    }
    io.stderr(`voice-ai ${name}: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    log?.flush();
  }
}
