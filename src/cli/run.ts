import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { loadConfig } from '../config.js';
import { startDaemon } from '../main.js';
import { parseFlags } from './args.js';

export const runHelp = `Usage: voice-ai run

Runs the daemon: the outbound ESL server for calls (VOICE_AI_OUTBOUND_HOST:PORT), the inbound ESL connection
(VOICE_AI_ESL_HOST:PORT) and the write queue. SIGTERM/SIGINT drain (stop taking calls, let active calls finish
up to VOICE_AI_DRAIN_GRACE_SECONDS, flush rows) and exit 0; a second signal shortens the grace to zero.
SIGHUP re-reads VOICE_AI_LOG_LEVEL from the environment / env file.`;

/** `voice-ai run`: resolves with the exit code once the daemon has stopped. */
export async function runDaemon(argv: string[], config: Config, log: Logger): Promise<number> {
  const { values } = parseFlags(argv, {});
  if (values.help) return 0;
  const daemon = await startDaemon(config, { log });
  return new Promise<number>((resolve) => {
    let signals = 0;
    const onStop = (signal: NodeJS.Signals): void => {
      signals++;
      log.info({ signal, activeCalls: daemon.activeCalls() }, signals === 1 ? 'draining' : 'stopping now');
      const graceMs = signals === 1 ? config.drainGraceSeconds * 1000 : 0;
      daemon.stop({ graceMs }).then(
        () => {
          cleanup();
          resolve(0);
        },
        (err: unknown) => {
          log.error({ err }, 'stop failed');
          cleanup();
          resolve(1);
        },
      );
    };
    const onHup = (): void => {
      try {
        const fresh = loadConfig();
        log.level = fresh.logLevel;
        log.info({ logLevel: fresh.logLevel }, 'log level reloaded');
      } catch (err) {
        log.error({ err }, 'configuration reload failed: keeping the running settings');
      }
    };
    const cleanup = (): void => {
      process.off('SIGTERM', onStop);
      process.off('SIGINT', onStop);
      process.off('SIGHUP', onHup);
    };
    process.on('SIGTERM', onStop);
    process.on('SIGINT', onStop);
    process.on('SIGHUP', onHup);
  });
}
