import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from './core/errors.js';

/** The daemon's configuration: read once at boot, validated as a whole, then frozen. */
export interface Config {
  readonly databaseUrl: string | undefined;
  readonly db: {
    readonly poolMax: number;
    readonly idleTimeoutSeconds: number;
    readonly connectTimeoutSeconds: number;
    readonly statementTimeoutMs: number;
  };
  /** pgcrypto key for provider secrets. Never logged. */
  readonly encryptionKey: string | undefined;
  readonly esl: { readonly host: string; readonly port: number; readonly password: string };
  readonly outbound: {
    readonly host: string;
    readonly port: number;
    /** Open connections (calls and handshakes) before new ones are closed at once. */
    readonly maxConnections: number;
    /** Connections still in the handshake before new ones are closed at once. */
    readonly maxHandshakes: number;
    /** Largest frame a peer may announce (channel data is a few KB to tens of KB). */
    readonly maxFrameBytes: number;
    /** Bytes all connections together may hold for incomplete frames. */
    readonly bufferBudgetBytes: number;
    /** From accept to the end of connect/linger/myevents/subscriptions. */
    readonly handshakeTimeoutMs: number;
  };
  readonly http: { readonly host: string; readonly port: number };
  readonly audioDir: string;
  readonly spoolDir: string;
  readonly logLevel: LogLevel;
  /** Log caller numbers, transcripts and prompts (the `pii` key) instead of redacting them. */
  readonly logPii: boolean;
  readonly drainGraceSeconds: number;
  /** How old a cached secretary, provider or domain may be when served while the database is unreachable. */
  readonly directoryStaleMaxMs: number;
  readonly calls: {
    /** Added to each execute's expected duration (a playback's length, a record's limit) to bound its wait. */
    readonly executeMarginMs: number;
    /** After max_call_seconds plus this, a call that has not ended is hung up (uuid_kill if need be). */
    readonly graceSeconds: number;
  };
  readonly media: {
    /** The backend for a full-duplex secretary whose own `media` is unset. */
    readonly default: MediaSetting;
    /** Our UDP side of unicast: the address we bind (sent to FreeSWITCH as remote-ip) and our port range. */
    readonly unicastBind: string;
    readonly unicastPorts: { readonly min: number; readonly max: number };
    /** FreeSWITCH's side: the address it binds (local-ip), the only source we accept datagrams from. */
    readonly unicastFreeswitchIp: string;
    /** How long unicast may take to deliver its first caller frame before the call falls back to files. */
    readonly firstFrameTimeoutMs: number;
    /** The voice activity detector on full-duplex calls (docs/PERFORMANCE.md, "VAD: energy vs Silero"). */
    readonly vad: 'silero' | 'energy';
  };
}

export type MediaSetting = 'auto' | 'files' | 'unicast' | 'audio_stream';
export const MEDIA_SETTINGS: readonly MediaSetting[] = ['auto', 'files', 'unicast', 'audio_stream'];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** What the command being run needs; anything else may stay unset. */
export interface ConfigNeeds {
  database?: boolean;
  encryptionKey?: boolean;
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses a systemd-style env file: KEY=VALUE lines, `#` comments, optional single or double quotes.
 * Returns the problems instead of throwing so they are reported with the rest.
 */
export function parseEnvFile(
  text: string,
  origin: string,
): { values: Record<string, string>; problems: string[] } {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) {
      problems.push(`${origin}:${i + 1}: expected KEY=VALUE`);
      return;
    }
    let value = m[2] ?? '';
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1);
    values[m[1] ?? ''] = value;
  });
  return { values, problems };
}

/**
 * Builds the frozen Config from the environment (plus `VOICE_AI_ENV_FILE` or `opts.envFile`, whose values
 * the real environment overrides). Every problem is collected and thrown together as one ConfigError.
 */
export function loadConfig(
  env: Env = process.env,
  opts: { envFile?: string; needs?: ConfigNeeds } = {},
): Config {
  const problems: string[] = [];
  let merged: Env = env;
  const envFile = opts.envFile ?? env.VOICE_AI_ENV_FILE;
  if (envFile) {
    try {
      const parsed = parseEnvFile(readFileSync(envFile, 'utf8'), envFile);
      problems.push(...parsed.problems);
      merged = { ...parsed.values, ...env };
    } catch (err) {
      problems.push(`VOICE_AI_ENV_FILE: cannot read ${envFile}: ${(err as Error).message}`);
    }
  }
  const str = (name: string, fallback: string): string => {
    const v = merged[name];
    return v === undefined || v === '' ? fallback : v;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const v = merged[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name}: expected an integer between ${min} and ${max}, got "${v}"`);
      return fallback;
    }
    return n;
  };
  const host = (name: string): string => {
    const v = str(name, '127.0.0.1');
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(v)) problems.push(`${name}: not a host name or address: "${v}"`);
    return v;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const v = merged[name];
    if (v === undefined || v === '') return fallback;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    problems.push(`${name}: expected true or false, got "${v}"`);
    return fallback;
  };

  const databaseUrl = merged.DATABASE_URL === '' ? undefined : merged.DATABASE_URL;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    problems.push('DATABASE_URL: expected postgres://user:password@host:port/database');
  } else if (databaseUrl === undefined && opts.needs?.database) {
    problems.push(
      "DATABASE_URL: required (FusionPBX's database, e.g. postgres://fusionpbx:...@127.0.0.1/fusionpbx)",
    );
  }

  let encryptionKey = merged.VOICE_AI_ENCRYPTION_KEY === '' ? undefined : merged.VOICE_AI_ENCRYPTION_KEY;
  const keyFile = merged.VOICE_AI_ENCRYPTION_KEY_FILE;
  if (encryptionKey === undefined && keyFile) {
    try {
      encryptionKey = readFileSync(keyFile, 'utf8').trim();
    } catch (err) {
      problems.push(
        `VOICE_AI_ENCRYPTION_KEY_FILE: cannot read ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  if (encryptionKey !== undefined && encryptionKey.length < 16) {
    problems.push('VOICE_AI_ENCRYPTION_KEY: must be at least 16 characters (e.g. `openssl rand -base64 32`)');
  } else if (encryptionKey === undefined && opts.needs?.encryptionKey) {
    problems.push(
      'VOICE_AI_ENCRYPTION_KEY (or VOICE_AI_ENCRYPTION_KEY_FILE): required to read provider secrets',
    );
  }

  const logLevel = str('VOICE_AI_LOG_LEVEL', 'info') as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    problems.push(`VOICE_AI_LOG_LEVEL: expected one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }

  // Defaults as in src/esl/outbound.ts (DEFAULT_OUTBOUND_*); config imports core only.
  const outbound: Config['outbound'] = {
    host: host('VOICE_AI_OUTBOUND_HOST'),
    port: int('VOICE_AI_OUTBOUND_PORT', 8084, 0, 65_535),
    maxConnections: int('VOICE_AI_OUTBOUND_MAX_CONNECTIONS', 1000, 1, 100_000),
    maxHandshakes: int('VOICE_AI_OUTBOUND_MAX_HANDSHAKES', 128, 1, 100_000),
    maxFrameBytes: int('VOICE_AI_OUTBOUND_MAX_FRAME_BYTES', 256 * 1024, 16 * 1024, 64 * 1024 * 1024),
    bufferBudgetBytes: int('VOICE_AI_OUTBOUND_BUFFER_BUDGET_BYTES', 64 * 1024 * 1024, 64 * 1024, 2 ** 40),
    handshakeTimeoutMs: int('VOICE_AI_OUTBOUND_HANDSHAKE_TIMEOUT_MS', 5000, 100, 120_000),
  };
  if (outbound.bufferBudgetBytes < outbound.maxFrameBytes) {
    problems.push(
      'VOICE_AI_OUTBOUND_BUFFER_BUDGET_BYTES: must be at least VOICE_AI_OUTBOUND_MAX_FRAME_BYTES, or no frame that large could ever be received',
    );
  }

  const mediaDefault = str('VOICE_AI_MEDIA', 'auto') as MediaSetting;
  if (!MEDIA_SETTINGS.includes(mediaDefault)) {
    problems.push(`VOICE_AI_MEDIA: expected one of ${MEDIA_SETTINGS.join(', ')}, got "${mediaDefault}"`);
  }
  const ports = /^(\d{1,5})-(\d{1,5})$/.exec(str('VOICE_AI_UNICAST_PORTS', '40000-40999'));
  const unicastPorts = { min: Number(ports?.[1] ?? 0), max: Number(ports?.[2] ?? 0) };
  // FreeSWITCH binds the range right above ours (see calls/unicast-media.ts), which must fit in 65535 too.
  if (
    !ports ||
    unicastPorts.min < 1024 ||
    unicastPorts.min > unicastPorts.max ||
    2 * unicastPorts.max - unicastPorts.min + 1 > 65_535
  ) {
    problems.push(
      'VOICE_AI_UNICAST_PORTS: expected MIN-MAX (1024 or more, e.g. 40000-40999); FreeSWITCH uses the same number of ports right above MAX',
    );
  }
  const vadSetting = str('VOICE_AI_VAD', 'silero');
  if (vadSetting !== 'silero' && vadSetting !== 'energy') {
    problems.push(`VOICE_AI_VAD: expected silero or energy, got "${vadSetting}"`);
  }
  const ip = (name: string, fallback: string): string => {
    const v = str(name, fallback);
    if (isIP(v) === 0) problems.push(`${name}: expected an IP address, got "${v}"`);
    return v;
  };

  const config: Config = {
    databaseUrl,
    db: {
      poolMax: int('VOICE_AI_DB_POOL_MAX', 20, 1, 500),
      idleTimeoutSeconds: int('VOICE_AI_DB_IDLE_TIMEOUT_SECONDS', 300, 0, 86_400),
      connectTimeoutSeconds: int('VOICE_AI_DB_CONNECT_TIMEOUT_SECONDS', 10, 1, 300),
      statementTimeoutMs: int('VOICE_AI_DB_STATEMENT_TIMEOUT_MS', 30_000, 0, 3_600_000),
    },
    encryptionKey,
    esl: {
      host: host('VOICE_AI_ESL_HOST'),
      port: int('VOICE_AI_ESL_PORT', 8021, 1, 65_535),
      password: str('VOICE_AI_ESL_PASSWORD', 'ClueCon'),
    },
    outbound,
    http: { host: host('VOICE_AI_HTTP_HOST'), port: int('VOICE_AI_HTTP_PORT', 8085, 0, 65_535) },
    audioDir: str('VOICE_AI_AUDIO_DIR', '/var/lib/voice-ai/audio'),
    spoolDir: str('VOICE_AI_SPOOL_DIR', '/var/lib/voice-ai/spool'),
    logLevel: LOG_LEVELS.includes(logLevel) ? logLevel : 'info',
    logPii: bool('VOICE_AI_LOG_PII', false),
    drainGraceSeconds: int('VOICE_AI_DRAIN_GRACE_SECONDS', 60, 0, 3600),
    directoryStaleMaxMs: int('VOICE_AI_DIRECTORY_STALE_MAX_MS', 3_600_000, 0, 7 * 86_400_000),
    calls: {
      executeMarginMs: int('VOICE_AI_EXECUTE_MARGIN_MS', 5000, 100, 600_000),
      graceSeconds: int('VOICE_AI_CALL_GRACE_SECONDS', 20, 1, 3600),
    },
    media: {
      default: MEDIA_SETTINGS.includes(mediaDefault) ? mediaDefault : 'auto',
      unicastBind: ip('VOICE_AI_UNICAST_BIND', '127.0.0.1'),
      unicastPorts,
      unicastFreeswitchIp: ip('VOICE_AI_UNICAST_FREESWITCH_IP', '127.0.0.1'),
      firstFrameTimeoutMs: int('VOICE_AI_UNICAST_FIRST_FRAME_MS', 500, 50, 5000),
      vad: vadSetting === 'energy' ? 'energy' : 'silero',
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

function deepFreeze<T extends object>(o: T): T {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
