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

// A reader that stops early (`voice-ai conversations list | head -1`) closes the pipe; Node ignores SIGPIPE,
// so that arrives as EPIPE on the next write. It ends the command quietly with status 0 (not the 141 of a
// SIGPIPE death): the reader got what it wanted, and `set -o pipefail` scripts do not fail. Not the daemon: its
// stdout is journald, and a broken one is a failure systemd should restart it after (Restart=on-failure).
const command = process.argv[2];
for (const stream of command === 'run' ? [] : [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(0);
  });
}

// Once the daemon has stopped (or failed to start) nothing may keep it alive: a handle left by a half-opened
// resource would leave a failed `run` up and systemd's Restart=on-failure would never fire (issue 9 item 1).
const exitSoon = (): void => {
  if (command === 'run') setTimeout(() => process.exit(), 500).unref();
};

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    exitSoon();
  },
  (err: unknown) => {
    process.stderr.write(`voice-ai: ${String(err)}\n`);
    process.exitCode = 1;
    exitSoon();
  },
);
