/**
 * Errors with stable codes. Every failure the daemon can name has a class here; callers branch on `code`,
 * never on message text.
 */
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_MIGRATION'
  | 'E_MIGRATION_CHECKSUM'
  | 'E_SCHEMA_PREREQ'
  | 'E_SECRET_KEY'
  | 'E_NOT_FOUND'
  | 'E_INVALID_INPUT'
  | 'E_ESL_PROTOCOL'
  | 'E_ESL_FRAME_TOO_LARGE'
  | 'E_ESL_BUFFER_BUDGET'
  | 'E_ESL_AUTH'
  | 'E_ESL_COMMAND'
  | 'E_ESL_TIMEOUT'
  | 'E_ESL_CLOSED'
  | 'E_EXECUTE_TIMEOUT'
  | 'E_CALL_HANGUP'
  | 'E_ABORTED'
  | 'E_TIMEOUT'
  | 'E_PROVIDER'
  | 'E_QUEUE_CLOSED'
  | 'E_AUDIO_FORMAT'
  | 'E_STARTUP';

export class VoiceAiError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends VoiceAiError {
  /** Every problem found, so an operator fixes them all in one go. */
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('E_CONFIG', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export class MigrationError extends VoiceAiError {}

/** The daemon could not start; `step` names what failed (everything opened before it has been released). */
export class StartupError extends VoiceAiError {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    const why = cause instanceof Error ? cause.message : String(cause);
    super('E_STARTUP', `start-up failed at ${step}: ${why}`, { cause });
    this.step = step;
  }
}

export class SecretKeyError extends VoiceAiError {
  readonly providerUuid: string | undefined;
  constructor(message: string, providerUuid?: string, options?: { cause?: unknown }) {
    super('E_SECRET_KEY', message, options);
    this.providerUuid = providerUuid;
  }
}

export class NotFoundError extends VoiceAiError {
  constructor(message: string) {
    super('E_NOT_FOUND', message);
  }
}

export class InvalidInputError extends VoiceAiError {
  constructor(message: string) {
    super('E_INVALID_INPUT', message);
  }
}

export class EslError extends VoiceAiError {}

/** Audio bytes that are not what they claim to be (not a WAV, an unsupported encoding, a broken header). */
export class AudioFormatError extends VoiceAiError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_AUDIO_FORMAT', message, options);
  }
}

/** FreeSWITCH answered a command with `-ERR ...` (or `-USAGE: ...`); `reply` keeps its exact text. */
export class EslCommandError extends EslError {
  readonly reply: string;
  constructor(message: string, reply: string) {
    super('E_ESL_COMMAND', message);
    this.reply = reply;
  }
}

/**
 * A dialplan app did not complete (no CHANNEL_EXECUTE_COMPLETE) within its expected duration plus the margin;
 * the daemon sent `uuid_break` and stopped waiting. Usually a stuck media app or a wedged switch.
 */
export class ExecuteTimeoutError extends EslError {
  readonly app: string;
  readonly timeoutMs: number;
  constructor(app: string, timeoutMs: number) {
    super('E_EXECUTE_TIMEOUT', `execute ${app} did not complete within ${timeoutMs} ms`);
    this.app = app;
    this.timeoutMs = timeoutMs;
  }
}

/** The channel hung up while an operation on it was pending. Not a failure of the daemon. */
export class CallHangupError extends VoiceAiError {
  readonly hangupCause: string | undefined;
  constructor(message: string, hangupCause?: string) {
    super('E_CALL_HANGUP', message);
    this.hangupCause = hangupCause;
  }
}

export class AbortedError extends VoiceAiError {
  constructor(message = 'operation aborted', options?: { cause?: unknown }) {
    super('E_ABORTED', message, options);
  }
}

export class TimeoutError extends VoiceAiError {
  constructor(message: string) {
    super('E_TIMEOUT', message);
  }
}

export class ProviderError extends VoiceAiError {
  readonly vendor: string;
  readonly status: number | undefined;
  readonly retryable: boolean;
  /** Seconds the vendor asked us to wait (retry-after), when it said. */
  readonly retryAfterMs: number | undefined;
  constructor(
    vendor: string,
    message: string,
    opts: { status?: number; retryable: boolean; retryAfterMs?: number; cause?: unknown },
  ) {
    super('E_PROVIDER', message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.vendor = vendor;
    this.status = opts.status;
    this.retryable = opts.retryable;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** True for cancellations (ours or the platform's), which are not failures and are not logged as errors. */
export function isAbort(err: unknown): boolean {
  if (err instanceof AbortedError || err instanceof CallHangupError) return true;
  return (
    err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR')
  );
}
