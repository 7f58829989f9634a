import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { startFakeFreeSwitch, type FakeCall, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';
import {
  startFakeOpenAi,
  type CapturedRequest,
  type FakeOpenAi,
  type FakeReply,
} from '../fakes/openai-server.js';
import { testSql, type Sql } from '../helpers/db.js';
import { utterance } from './call-harness.js';
import {
  callTo,
  createTenant,
  endedConversation,
  httpGet,
  spawnDaemon,
  type DaemonProcess,
} from './ops-daemon.js';

const API_KEY = 'ops-drain-api-key-5c1d9e';

let sql: Sql;
let fs: FakeFreeSwitch;
/** What the running test started, released after it whatever its outcome. */
const daemons: DaemonProcess[] = [];
const ais: FakeOpenAi[] = [];

beforeAll(async () => {
  sql = testSql();
  fs = await startFakeFreeSwitch({ speed: 10 });
});
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.dispose()));
  await Promise.all(ais.splice(0).map((ai) => ai.close()));
});
afterAll(async () => {
  await fs.stop();
  await sql.end();
});

/** A daemon of its own and a fake OpenAI of its own per test: their request lists are the test's alone. */
async function setup(graceSeconds: number): Promise<{ d: DaemonProcess; ai: FakeOpenAi }> {
  const ai = await startFakeOpenAi({ apiKey: API_KEY });
  ais.push(ai);
  const d = await spawnDaemon({
    databaseUrl: inject('databaseUrl'),
    eslPort: fs.inboundPort,
    env: { VOICE_AI_DRAIN_GRACE_SECONDS: String(graceSeconds) },
  });
  daemons.push(d);
  return { d, ai };
}

/** Resolves once `ai` has received `n` requests matching `pred` (counting those already received). */
async function requests(ai: FakeOpenAi, n: number, pred: (r: CapturedRequest) => boolean) {
  for (;;) {
    const found = ai.requests.filter(pred);
    if (found.length >= n) return found;
    await ai.nextRequest();
  }
}

/** The daemon's last two commands on a call's socket. */
const lastCommands = (call: FakeCall): string[] => call.commands.slice(-2);
const FAREWELL_THEN_HANGUP = [
  expect.stringMatching(/^sendmsg execute playback .*\/prompts\/[0-9a-f]+\.wav$/),
  'sendmsg hangup NORMAL_CLEARING',
];
const isChat = (r: CapturedRequest): boolean => r.route === 'chat';
const spoken = (ai: FakeOpenAi): string[] =>
  ai.requests.filter((r) => r.route === 'speech').map((r) => (r.body as { input: string }).input);

describe('voice-ai run: SIGTERM drains', () => {
  it('refuses new calls, lets both active calls finish, writes their rows and exits 0', async () => {
    const { d, ai } = await setup(30);
    const t = await createTenant(sql, { provider: { baseUrl: ai.baseUrl, apiKey: API_KEY } });
    ai.on('transcriptions', () => ({ type: 'transcription', text: 'Quero falar com vendas.' }));
    // Both calls hold in their first LLM request until the drain has been seen to refuse a call.
    let release = (): void => undefined;
    const gate = new Promise<void>((r) => (release = r));
    ai.on('chat', async (): Promise<FakeReply> => {
      await gate;
      return { type: 'chat', text: 'Claro. Até mais!', toolCalls: [{ name: 'end_call', arguments: {} }] };
    });
    const a = fs.placeCall(callTo(t, d.outboundPort, { script: utterance() }));
    const b = fs.placeCall(callTo(t, d.outboundPort, { script: utterance() }));
    await requests(ai, 2, isChat);

    d.signal('SIGTERM');
    const draining = await d.waitForLog((l) => l.msg === 'draining', "'draining'");
    expect(draining).toMatchObject({ signal: 'SIGTERM', activeCalls: 2 });

    // The outbound server stopped listening: FreeSWITCH's socket app fails and the dialplan goes on.
    const late = fs.placeCall(callTo(t, d.outboundPort, { script: utterance() }));
    expect(await late.ended).toMatchObject({ connectFailed: true });
    expect(late.executed).toEqual([]);
    // Still serving probes while draining, and saying why it is not ready.
    const ready = await httpGet(d.httpPort, '/readyz');
    expect(ready.status).toBe(503);
    const body = JSON.parse(ready.text) as { ready: boolean; checks: unknown[] };
    expect(body.ready).toBe(false);
    expect(body.checks).toContainEqual({ name: 'draining', ok: false, detail: 'shutting down' });

    release();
    const [endA, endB] = await Promise.all([a.ended, b.ended]);
    for (const end of [endA, endB]) expect(end.connectFailed).toBeUndefined();
    const exit = await d.exited;
    expect(exit).toEqual({ code: 0, signal: null });

    for (const call of [a, b]) {
      expect(call.violations).toEqual([]);
      const conv = await endedConversation(sql, call.uuid);
      expect(conv).toMatchObject({ domain_uuid: t.domain_uuid, resolution: 'completed', total_turns: 1 });
    }
    const lateRows = await sql`SELECT 1 FROM v_voice_conversations WHERE call_uuid = ${late.uuid}`;
    expect(lateRows).toHaveLength(0);
    // Both said goodbye (the farewell synthesized once, the prompt cache serving the second call).
    expect(spoken(ai).filter((s) => s === 'Até logo!')).toHaveLength(1);
    for (const call of [a, b]) expect(lastCommands(call)).toEqual(FAREWELL_THEN_HANGUP);

    // stdout is pino's JSON lines, one object per line, from start to stop.
    expect(d.stdout.length).toBeGreaterThan(0);
    for (const line of d.stdout) {
      const parsed = JSON.parse(line) as { level?: unknown; time?: unknown; msg?: unknown };
      expect([typeof parsed.level, typeof parsed.time, typeof parsed.msg]).toEqual([
        'number',
        'string',
        'string',
      ]);
    }
    const msgs = d.logs.map((l) => l.msg);
    expect(msgs).toContain('draining');
    expect(msgs).not.toContain('drain grace over: ending remaining calls');
    expect(msgs[msgs.length - 1]).toBe('voice-ai stopped');
    expect(msgs.indexOf('draining')).toBeLessThan(msgs.indexOf('voice-ai stopped'));
    expect(d.stderr).toEqual([]);
  });

  it('past the grace period: the call gets the farewell and a hangup, resolution drained, exit 0', async () => {
    const { d, ai } = await setup(1);
    const t = await createTenant(sql, { provider: { baseUrl: ai.baseUrl, apiKey: API_KEY } });
    ai.on('transcriptions', () => ({ type: 'transcription', text: 'Quero falar com vendas.' }));
    // An LLM that never answers: the call would go on until its own timeouts, far beyond the grace.
    ai.on('chat', () => ({ type: 'hang' }));
    const call = fs.placeCall(callTo(t, d.outboundPort, { script: utterance() }));
    const [chat] = await requests(ai, 1, isChat);

    d.signal('SIGTERM');
    await d.waitForLog((l) => l.msg === 'draining', "'draining'");
    const over = await d.waitForLog(
      (l) => l.msg === 'drain grace over: ending remaining calls',
      "'drain grace over'",
    );
    expect(over).toMatchObject({ activeCalls: 1 });
    const end = await call.ended;
    expect(end).toMatchObject({ hangupCause: 'NORMAL_CLEARING' });
    expect(await d.exited).toEqual({ code: 0, signal: null });

    // The LLM request was cancelled, the farewell synthesized and played, then the daemon hung up.
    await chat?.closed;
    expect(chat?.aborted).toBe(true);
    expect(spoken(ai)).toContain('Até logo!');
    expect(lastCommands(call)).toEqual(FAREWELL_THEN_HANGUP);
    const conv = await endedConversation(sql, call.uuid);
    expect(conv).toMatchObject({ resolution: 'drained', total_turns: 1 });
    expect(d.logs.map((l) => l.msg)).toContain('voice-ai stopped');
  });

  it('a second SIGTERM cuts the grace short: the call is drained at once and the process exits 0', async () => {
    const { d, ai } = await setup(30);
    const t = await createTenant(sql, { provider: { baseUrl: ai.baseUrl, apiKey: API_KEY } });
    ai.on('transcriptions', () => ({ type: 'transcription', text: 'Quero falar com vendas.' }));
    ai.on('chat', () => ({ type: 'hang' }));
    const call = fs.placeCall(callTo(t, d.outboundPort, { script: utterance() }));
    await requests(ai, 1, isChat);

    d.signal('SIGTERM');
    await d.waitForLog((l) => l.msg === 'draining', "'draining'");
    d.signal('SIGTERM');
    expect(await d.waitForLog((l) => l.msg === 'stopping now', "'stopping now'")).toMatchObject({
      signal: 'SIGTERM',
      activeCalls: 1,
    });
    // Well inside the 30 s grace the first signal asked for.
    await d.waitForLog(
      (l) => l.msg === 'drain grace over: ending remaining calls',
      "'drain grace over'",
      5000,
    );
    await call.ended;
    expect(lastCommands(call)).toEqual(FAREWELL_THEN_HANGUP);
    expect(await d.exited).toEqual({ code: 0, signal: null });
    expect(await endedConversation(sql, call.uuid)).toMatchObject({ resolution: 'drained' });
  });
});
