#!/usr/bin/env node
// The `voice-ai` executable. All logic lives in cli.ts so tests can call it without side effects.
import { cli } from './cli.js';

// Never limp on after a bug: log it and exit 1 so systemd restarts a clean process.
process.on('unhandledRejection', (reason) => {
  process.stderr.write(
    `${JSON.stringify({ level: 60, msg: 'unhandled rejection', err: String((reason as Error)?.stack ?? reason) })}\n`,
  );
  process.exit(1);
});
process.on('uncaughtException', (err) => {
  process.stderr.write(
    `${JSON.stringify({ level: 60, msg: 'uncaught exception', err: String(err.stack ?? err) })}\n`,
  );
  process.exit(1);
});

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`voice-ai: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
