/**
 * 1,000 sequential calls through the whole fake FreeSWITCH leave nothing behind in the outbound ESL client:
 * no active handles or timers, no open sessions, no listeners or pending commands on any closed session, and
 * no heap growth beyond noise. Half the calls are hung up by the daemon, half by the caller mid-playback.
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallHangupError } from '../../src/core/errors.js';
import { createOutboundServer, type OutboundServer, type OutboundSession } from '../../src/esl/index.js';
import { startFakeFreeSwitch, type CallerStep, type FakeFreeSwitch } from '../fakes/fake-freeswitch/index.js';

const PROMPT_8K = join(import.meta.dirname, '../fixtures/audio/fake-fs-prompt-8k.wav');
const CALLS = 1000;
const WARMUP_CALLS = 20;

/** A real full GC (vitest runs without --expose-gc), so heap figures say what is retained. */
function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Lets pending handle closes run (close callbacks fire on the next loop turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Active resources by type, e.g. { TCPSocketWrap: 2, Timeout: 1 }. */
function resources(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] ?? 0) + 1;
  return counts;
}

const problems: string[] = [];
let sessionsHandled = 0;
let fake: FakeFreeSwitch | undefined;
let server: OutboundServer | undefined;

/** A call handler's shape: answer, play the prompt, hang up; a caller hangup ends it early. */
async function handleCall(s: OutboundSession): Promise<void> {
  sessionsHandled++;
  // A consumer that never removes its listeners, as a careless call handler would.
  s.on('event', () => undefined);
  s.on('dtmf', () => undefined);
  s.hangupSignal.addEventListener('abort', () => undefined, { once: true });
  try {
    await s.execute('answer', undefined, { timeoutMs: 5000 });
    await s.execute('playback', PROMPT_8K, { timeoutMs: 5000 });
    await s.hangup();
  } catch (err) {
    if (!(err instanceof CallHangupError)) problems.push(`execute failed: ${String(err)}`);
  }
  await s.close();
  if (s.pendingCount() !== 0) problems.push(`pending ${s.pendingCount()}`);
  if (s.socketListenerCount() !== 0) problems.push(`socket listeners ${s.socketListenerCount()}`);
  if (s.eventNames().length !== 0) problems.push(`session listeners ${s.eventNames().join()}`);
}

beforeAll(async () => {
  fake = await startFakeFreeSwitch({ speed: 1000 });
  server = await createOutboundServer({
    port: 0,
    log: pino({ level: 'silent' }),
    lingerSeconds: 5,
    events: ['PLAYBACK_START', 'PLAYBACK_STOP'],
    onSession: handleCall,
  });
});

afterAll(async () => {
  server?.destroy();
  await fake?.stop();
});

/** Places `n` calls one after the other; odd ones hang up half a second into the prompt. */
async function run(n: number): Promise<void> {
  const f = fake as FakeFreeSwitch;
  const target = { host: '127.0.0.1', port: (server as OutboundServer).port };
  const callerHangsUp: CallerStep[] = [{ type: 'hangup', when: 'during_playback', atMs: 500 }];
  for (let i = 0; i < n; i++) {
    const hangsUp = i % 2 === 1;
    const call = f.placeCall({ target, script: hangsUp ? callerHangsUp : [] });
    const end = await call.ended;
    if (end.hangupCause !== 'NORMAL_CLEARING') problems.push(`call ${i}: ${end.hangupCause}`);
    if (call.violations.length > 0) problems.push(`call ${i}: ${call.violations.join('; ')}`);
    const apps = call.executed.map((e) => `${e.app} ${e.response}`).join(', ');
    const want = `answer _none_, playback ${hangsUp ? 'PLAYBACK ERROR' : 'FILE PLAYED'}`;
    if (apps !== want) problems.push(`call ${i}: ${apps}`);
    if (f.inboundConnections() !== 0)
      problems.push(`call ${i}: ${f.inboundConnections()} inbound connections`);
  }
  await settle();
}

describe('outbound ESL client: 1,000 calls through the fake', () => {
  it('leave no growth in handles, sessions, listeners, pending commands or heap', async () => {
    await run(WARMUP_CALLS);
    gc();
    const before = resources();
    const heapBefore = process.memoryUsage().heapUsed;
    const t0 = performance.now();

    await run(CALLS);

    const elapsedMs = performance.now() - t0;
    gc();
    const after = resources();
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    console.info(
      `esl-fake leak: ${CALLS} calls in ${Math.round(elapsedMs)} ms, heap ${(heapGrowth / 1024).toFixed(0)} KiB, ` +
        `resources before ${JSON.stringify(before)} after ${JSON.stringify(after)}`,
    );
    expect(problems).toEqual([]);
    expect(sessionsHandled).toBe(WARMUP_CALLS + CALLS);
    expect(server?.sessions).toBe(0);
    for (const [type, n] of Object.entries(after)) expect(n, type).toBeLessThanOrEqual(before[type] ?? 0);
    // One retained session (socket, parser, ~150 decoded channel headers) costs far more than 4 KiB.
    expect(heapGrowth).toBeLessThan(4 * 1024 * 1024);
  }, 60_000);
});
