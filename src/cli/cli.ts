import type { Logger } from 'pino';
import { loadConfig, type Config, type ConfigNeeds } from '../config.js';
import { VoiceAiError } from '../core/errors.js';
import { createLogger } from '../logger.js';
import { runDemo, demoHelp } from './demo.js';
import { runMigrate, migrateHelp } from './migrate.js';
import { runDaemon, runHelp } from './run.js';

type Command = {
  summary: string;
  help: string;
  needs: ConfigNeeds;
  run: (argv: string[], config: Config, log: Logger, out: (s: string) => void) => Promise<number>;
};

const commands: Record<string, Command> = {
  migrate: { summary: 'apply or list database migrations', help: migrateHelp, needs: { database: true }, run: runMigrate },
  run: { summary: 'run the daemon (systemd ExecStart)', help: runHelp, needs: { database: true, encryptionKey: true }, run: runDaemon },
  demo: { summary: 'offline demo on an embedded PostgreSQL', help: demoHelp, needs: {}, run: runDemo },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(14)}${c.summary}`);
  return `Usage: voice-ai <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nEvery command takes --help.`;
}

/** The `voice-ai` command. Only this function decides the process exit code. */
export async function cli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const out = (s: string): void => void process.stdout.write(`${s}\n`);
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    out(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`voice-ai: unknown command "${name}"\n${usage()}\n`);
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
      ...(name === 'run' ? {} : { destination: process.stderr }),
    });
    return await command.run(rest, config, log, out);
  } catch (err) {
    if (err instanceof VoiceAiError) {
      process.stderr.write(`voice-ai ${name}: ${err.message}\n`);
      return err.code === 'E_CONFIG' || err.code === 'E_INVALID_INPUT' ? 2 : 1;
    }
    process.stderr.write(`voice-ai ${name}: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  } finally {
    log?.flush();
  }
}

