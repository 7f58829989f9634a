import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, utterance, type Harness } from './call-harness.js';

// A switch that starts apps and never completes them (issue 9 item 5): the call must still end on time.
// The margin is short so the test is quick; the logic is the same at the default 5 s.
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ env: { VOICE_AI_EXECUTE_MARGIN_MS: '500', VOICE_AI_CALL_GRACE_SECONDS: '20' } });
});
afterAll(async () => {
  await h.close();
});

const killsOf = (uuid: string): string[] => h.fs.apiLog.filter((l) => l.startsWith(`uuid_kill ${uuid}`));

describe('a session that never completes its executes', () => {
  it('a wedged record: max_call_seconds ends the call with uuid_kill over inbound ESL, resolution timeout', async () => {
    const t = await h.tenant({ secretary: { max_call_seconds: 10, record_max_seconds: 120 } });
    h.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Alô?' }));
    const call = h.call(t, { script: utterance() });
    // The greeting plays; the record that follows starts and never completes, and since it holds the event
    // lock, the farewell and the `hangup` sent on the socket queue behind it.
    call.faults.holdExecutes(['record']);
    const startedAt = Date.now();
    const end = await call.ended;
    const heldMs = Date.now() - startedAt;
    expect(call.eventLog).toContain('CHANNEL_EXECUTE record');
    expect(call.executed.some((e) => e.app === 'record' && e.variables['record_ms'] !== undefined)).toBe(
      false,
    );
    expect(killsOf(call.uuid)).toEqual([`uuid_kill ${call.uuid} ALLOTTED_TIMEOUT`]);
    expect(end.hangupCause).toBe('ALLOTTED_TIMEOUT');
    // Ten seconds of call, then bounded waits (a farewell that cannot play, the hangup the session never
    // answers): nowhere near the record's own 120 s limit, which is what held the call before.
    expect(heldMs).toBeGreaterThanOrEqual(10_000);
    expect(heldMs).toBeLessThan(60_000);
    const conv = await h.conversation(call.uuid);
    expect(conv.resolution).toBe('timeout');
    expect(h.logs.some((l) => l['msg'] === 'session did not hang up: uuid_kill over inbound ESL')).toBe(true);
    expect(call.violations).toEqual([]);
  }, 90_000);

  it('every app wedged from the start: the bounded answer gives up, the call is killed, the row is written', async () => {
    const t = await h.tenant();
    const call = h.call(t, { script: utterance() });
    call.faults.holdExecutes();
    const end = await call.ended;
    // The first app (`set`) never completed while the call was up; the kill freed it, nothing ran after it.
    expect(call.executed.map((e) => e.app)).toEqual(['set']);
    expect(killsOf(call.uuid)).toEqual([`uuid_kill ${call.uuid} NORMAL_CLEARING`]);
    expect(end.socketClosedBy).toBe('daemon');
    expect(h.logs.some((l) => l['msg'] === 'execute did not complete in time: gave up on it')).toBe(true);
    const conv = await h.conversation(call.uuid);
    expect(conv.resolution).toBe('error');
  }, 90_000);
});

describe('the hard deadline, max_call_seconds plus the grace', () => {
  let g: Harness;
  beforeAll(async () => {
    // Executes effectively unbounded (a 10 min margin): only the per-call deadline can end this call early.
    g = await startHarness({
      env: { VOICE_AI_EXECUTE_MARGIN_MS: '600000', VOICE_AI_CALL_GRACE_SECONDS: '1' },
    });
  });
  afterAll(async () => {
    await g.close();
  });

  it('ends a call whose conversation is still waiting on the switch, and the row says timeout', async () => {
    const t = await g.tenant({ secretary: { max_call_seconds: 10, record_max_seconds: 120 } });
    g.ai.on('transcriptions', () => ({ type: 'transcription', text: 'Alô?' }));
    const call = g.call(t, { script: utterance() });
    call.faults.holdExecutes(['record']);
    const end = await call.ended;
    expect(end.hangupCause).toBe('ALLOTTED_TIMEOUT');
    expect(g.fs.apiLog.filter((l) => l.startsWith(`uuid_kill ${call.uuid}`))).toEqual([
      `uuid_kill ${call.uuid} ALLOTTED_TIMEOUT`,
    ]);
    expect(g.logs.some((l) => l['msg'] === 'call deadline passed: ending the channel')).toBe(true);
    const conv = await g.conversation(call.uuid);
    expect(conv.resolution).toBe('timeout');
  }, 90_000);
});
