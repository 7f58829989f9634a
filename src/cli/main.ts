#!/usr/bin/env node
// The `voice-ai` executable. All logic lives in cli.ts so tests can call it without side effects.
import { cli } from './cli.js';

cli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`voice-ai: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
