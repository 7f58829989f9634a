import pino, { type Logger } from 'pino';
import type { LogLevel } from './config.js';

/**
 * Paths pino censors in every log line. Secrets are always redacted; `pii` (caller numbers, transcripts,
 * prompts) only unless the operator turned on VOICE_AI_LOG_PII.
 */
export const SECRET_PATHS = [
  'api_key',
  '*.api_key',
  'apiKey',
  '*.apiKey',
  'secrets',
  '*.secrets',
  'password',
  '*.password',
  'encryptionKey',
  '*.encryptionKey',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers["xi-api-key"]',
  'headers["x-api-key"]',
];

export interface LoggerOptions {
  level: LogLevel;
  pii: boolean;
  /** Where lines go; stdout (journald) by default. */
  destination?: pino.DestinationStream;
}

/** The root logger: JSON lines, `err` for errors, secrets (and PII unless enabled) censored. */
export function createLogger(opts: LoggerOptions): Logger {
  const paths = opts.pii ? SECRET_PATHS : [...SECRET_PATHS, 'pii', '*.pii'];
  return pino(
    {
      level: opts.level,
      base: { service: 'voice-ai' },
      redact: { paths, censor: '[redacted]' },
      serializers: { err: pino.stdSerializers.err },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    opts.destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
