import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSecretariesRepo } from '../../src/store/repos/secretaries.js';
import { startFakeFreeSwitch, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import { testSql, type Sql } from '../helpers/db.js';
import { createTenant, pollUntil, spawnDaemon, type DaemonProcess, type LogLine } from './ops-daemon.js';

let sql: Sql;
let fs: FakeFreeSwitch;
let dir: string;
let d: DaemonProcess | undefined;
beforeAll(async () => {
  sql = testSql();
  fs = await startFakeFreeSwitch();
  dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-ops-env-'));
});
afterAll(async () => {
  await d?.dispose();
  await fs.stop();
  await sql.end();
  await rm(dir, { recursive: true, force: true });
});

describe('voice-ai run: SIGHUP', () => {
  it('re-reads VOICE_AI_LOG_LEVEL from the env file; a bad value is reported and the level kept', async () => {
    const envFile = path.join(dir, 'voice-ai.env');
    await writeFile(envFile, '# as systemd EnvironmentFile=\nVOICE_AI_LOG_LEVEL=info\n');
    const daemon = await spawnDaemon({
      databaseUrl: inject('databaseUrl'),
      eslPort: fs.inboundPort,
      env: { VOICE_AI_ENV_FILE: envFile },
    });
    d = daemon;
    const t = await createTenant(sql, {
      provider: { baseUrl: 'http://127.0.0.1:9/v1', apiKey: 'unused-key' },
    });
    const secretaries = createSecretariesRepo(sql);
    let edits = 0;
    /**
     * Edits the tenant's secretary until the daemon logs the change notification (debug) after line `from`.
     * Repeated because LISTEN is set up in the background at boot: an edit before it is active goes unheard.
     */
    const debugLineAfter = (from: number): Promise<LogLine> =>
      pollUntil(
        async () => {
          await secretaries.update(t.domain_uuid, t.secretaryUuid, { greeting: `Olá (${++edits})` });
          return daemon.logs
            .slice(from)
            .find(
              (l) =>
                l.msg === 'directory: change notified' &&
                l['domain_uuid'] === t.domain_uuid &&
                l['table'] === 'v_voice_secretaries',
            );
        },
        'a debug line for the secretary edit',
        10_000,
        100,
      );

    await writeFile(envFile, 'VOICE_AI_LOG_LEVEL=debug\n');
    daemon.signal('SIGHUP');
    const reloaded = await daemon.waitForLog((l) => l.msg === 'log level reloaded', "'log level reloaded'");
    // One `level` key, pino's number: a field of the same name would make log shippers read the line's
    // level as "debug" (JSON parsers keep the last duplicate key).
    const raw = daemon.stdout.find((l) => l.includes('"msg":"log level reloaded"')) ?? '';
    expect(raw.match(/"level":/g)).toHaveLength(1);
    expect(reloaded.level).toBe(30);
    expect(Object.values(reloaded)).toContain('debug');
    const at = daemon.logs.indexOf(reloaded);
    // At info nothing below info was printed; from the reload on, debug lines are.
    expect(daemon.logs.slice(0, at).filter((l) => (l.level ?? 0) < 30)).toEqual([]);
    expect(await debugLineAfter(at)).toMatchObject({ level: 20 });

    await writeFile(envFile, 'VOICE_AI_LOG_LEVEL=loud\n');
    daemon.signal('SIGHUP');
    const failed = await daemon.waitForLog(
      (l) => l.msg === 'configuration reload failed: keeping the running settings',
      "'configuration reload failed'",
    );
    expect(failed).toMatchObject({ level: 50 });
    expect((failed['err'] as { message?: string }).message).toContain('VOICE_AI_LOG_LEVEL');
    // Still at debug.
    expect(await debugLineAfter(daemon.logs.indexOf(failed))).toMatchObject({ level: 20 });

    daemon.signal('SIGTERM');
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.logs.filter((l) => l.msg === 'log level reloaded')).toHaveLength(1);
  });
});
