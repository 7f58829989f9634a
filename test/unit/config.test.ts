import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseEnvFile } from '../../src/config.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  DEFAULT_OUTBOUND_BUFFER_BUDGET_BYTES,
  DEFAULT_OUTBOUND_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_OUTBOUND_MAX_CONNECTIONS,
  DEFAULT_OUTBOUND_MAX_FRAME_BYTES,
  DEFAULT_OUTBOUND_MAX_HANDSHAKES,
} from '../../src/esl/outbound.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('configuration', () => {
  it('defaults bind every listener to 127.0.0.1 and the outbound socket to 8084', () => {
    const c = loadConfig({});
    expect(c.esl).toEqual({ host: '127.0.0.1', port: 8021, password: 'ClueCon' });
    expect(c.outbound).toEqual({
      host: '127.0.0.1',
      port: 8084,
      maxConnections: DEFAULT_OUTBOUND_MAX_CONNECTIONS,
      maxHandshakes: DEFAULT_OUTBOUND_MAX_HANDSHAKES,
      maxFrameBytes: DEFAULT_OUTBOUND_MAX_FRAME_BYTES,
      bufferBudgetBytes: DEFAULT_OUTBOUND_BUFFER_BUDGET_BYTES,
      handshakeTimeoutMs: DEFAULT_OUTBOUND_HANDSHAKE_TIMEOUT_MS,
    });
    expect(c.outbound.maxFrameBytes).toBe(256 * 1024);
    expect(c.http.host).toBe('127.0.0.1');
    expect(c.db).toEqual({
      poolMax: 20,
      idleTimeoutSeconds: 300,
      connectTimeoutSeconds: 10,
      statementTimeoutMs: 30_000,
    });
    expect(c.logPii).toBe(false);
    // Unicast binds loopback and accepts audio from loopback only, unless told otherwise.
    expect(c.media).toEqual({
      default: 'auto',
      unicastBind: '127.0.0.1',
      unicastPorts: { min: 40000, max: 40999 },
      unicastFreeswitchIp: '127.0.0.1',
      firstFrameTimeoutMs: 500,
      vad: 'silero',
    });
  });

  it('refuses a media setting, a unicast port range or address it cannot use', () => {
    const problems = (env: Record<string, string>): readonly string[] => {
      try {
        loadConfig(env);
        return [];
      } catch (err) {
        return (err as ConfigError).problems;
      }
    };
    expect(problems({ VOICE_AI_MEDIA: 'rtp' })).toEqual([
      'VOICE_AI_MEDIA: expected one of auto, files, unicast, audio_stream, got "rtp"',
    ]);
    for (const ports of ['40000', '500-600', '41000-40000', '60000-65000']) {
      expect(problems({ VOICE_AI_UNICAST_PORTS: ports })).toEqual([
        expect.stringMatching(/^VOICE_AI_UNICAST_PORTS: expected MIN-MAX/),
      ]);
    }
    expect(problems({ VOICE_AI_VAD: 'webrtc' })).toEqual([
      'VOICE_AI_VAD: expected silero or energy, got "webrtc"',
    ]);
    expect(problems({ VOICE_AI_UNICAST_FREESWITCH_IP: 'fs.example.com' })).toEqual([
      'VOICE_AI_UNICAST_FREESWITCH_IP: expected an IP address, got "fs.example.com"',
    ]);
    expect(
      loadConfig({ VOICE_AI_UNICAST_PORTS: '20000-20099', VOICE_AI_MEDIA: 'files' }).media,
    ).toMatchObject({
      default: 'files',
      unicastPorts: { min: 20000, max: 20099 },
    });
  });

  it('serves the directory stale for an hour by default while the database is away; 0 turns it off', () => {
    expect(loadConfig({}).directoryStaleMaxMs).toBe(3_600_000);
    expect(loadConfig({ VOICE_AI_DIRECTORY_STALE_MAX_MS: '0' }).directoryStaleMaxMs).toBe(0);
    expect(() => loadConfig({ VOICE_AI_DIRECTORY_STALE_MAX_MS: '-1' })).toThrow(
      /VOICE_AI_DIRECTORY_STALE_MAX_MS: expected an integer between 0 and 604800000/,
    );
  });

  it('reports every problem at once', () => {
    let err: unknown;
    try {
      loadConfig(
        {
          DATABASE_URL: 'mysql://nope',
          VOICE_AI_ESL_PORT: '99999',
          VOICE_AI_HTTP_PORT: 'abc',
          VOICE_AI_LOG_LEVEL: 'loud',
          VOICE_AI_ENCRYPTION_KEY: 'short',
          VOICE_AI_LOG_PII: 'maybe',
        },
        { needs: { database: true } },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/DATABASE_URL/);
    expect(problems.join('\n')).toMatch(
      /VOICE_AI_ESL_PORT: expected an integer between 1 and 65535, got "99999"/,
    );
    expect(problems.join('\n')).toMatch(/VOICE_AI_HTTP_PORT/);
    expect(problems.join('\n')).toMatch(/VOICE_AI_LOG_LEVEL/);
    expect(problems.join('\n')).toMatch(/VOICE_AI_ENCRYPTION_KEY: must be at least 16 characters/);
    expect(problems.join('\n')).toMatch(/VOICE_AI_LOG_PII/);
    // The key itself is never echoed back.
    expect((err as Error).message).not.toContain('short"');
  });

  it('requires what the command needs: database and encryption key', () => {
    expect(() => loadConfig({}, { needs: { database: true, encryptionKey: true } })).toThrow(
      /DATABASE_URL: required[\s\S]*VOICE_AI_ENCRYPTION_KEY \(or VOICE_AI_ENCRYPTION_KEY_FILE\): required/,
    );
  });

  it('reads an env file, the real environment winning, and a key file', async () => {
    const keyFile = path.join(dir, 'key');
    await writeFile(keyFile, 'a-key-from-a-file-0123456789\n');
    const envFile = path.join(dir, 'voice-ai.env');
    await writeFile(
      envFile,
      [
        '# comment',
        'DATABASE_URL="postgres://fusionpbx:pw@127.0.0.1/fusionpbx"',
        `VOICE_AI_ENCRYPTION_KEY_FILE=${keyFile}`,
        "VOICE_AI_LOG_LEVEL='debug'",
        'export VOICE_AI_OUTBOUND_PORT=9000',
      ].join('\n'),
    );
    const c = loadConfig({ VOICE_AI_ENV_FILE: envFile, VOICE_AI_OUTBOUND_PORT: '9100' });
    expect(c.databaseUrl).toBe('postgres://fusionpbx:pw@127.0.0.1/fusionpbx');
    expect(c.encryptionKey).toBe('a-key-from-a-file-0123456789');
    expect(c.logLevel).toBe('debug');
    expect(c.outbound.port).toBe(9100);
    expect(Object.isFrozen(c) && Object.isFrozen(c.esl)).toBe(true);
  });

  it('reads the outbound limits and refuses a buffer budget smaller than one frame', () => {
    const c = loadConfig({
      VOICE_AI_OUTBOUND_MAX_CONNECTIONS: '300',
      VOICE_AI_OUTBOUND_MAX_HANDSHAKES: '20',
      VOICE_AI_OUTBOUND_MAX_FRAME_BYTES: '65536',
      VOICE_AI_OUTBOUND_BUFFER_BUDGET_BYTES: '1048576',
      VOICE_AI_OUTBOUND_HANDSHAKE_TIMEOUT_MS: '2000',
    });
    expect(c.outbound).toMatchObject({
      maxConnections: 300,
      maxHandshakes: 20,
      maxFrameBytes: 65_536,
      bufferBudgetBytes: 1_048_576,
      handshakeTimeoutMs: 2000,
    });
    let err: unknown;
    try {
      loadConfig({
        VOICE_AI_OUTBOUND_MAX_FRAME_BYTES: '1048576',
        VOICE_AI_OUTBOUND_BUFFER_BUDGET_BYTES: '524288',
        VOICE_AI_OUTBOUND_MAX_HANDSHAKES: '0',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems.join('\n');
    expect(problems).toMatch(/VOICE_AI_OUTBOUND_BUFFER_BUDGET_BYTES: must be at least/);
    expect(problems).toMatch(/VOICE_AI_OUTBOUND_MAX_HANDSHAKES: expected an integer between 1/);
  });

  it('a broken env file line and an unreadable env file are problems, not crashes', () => {
    expect(parseEnvFile('GOOD=1\nthis is not a pair\n', 'f').problems).toEqual(['f:2: expected KEY=VALUE']);
    expect(() => loadConfig({ VOICE_AI_ENV_FILE: path.join(dir, 'missing.env') })).toThrow(/cannot read/);
  });
});
