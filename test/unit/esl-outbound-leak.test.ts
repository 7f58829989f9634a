import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createOutboundServer } from '../../src/esl/outbound.js';
import type { OutboundSession } from '../../src/esl/outbound-session.js';
import { autoPeer, silentLog } from './esl-support.js';

/** A real full GC, so heap figures and WeakRefs say what is retained rather than what is not yet collected. */
function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Waits until pending handle closes have run (close callbacks fire on the next loop turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

describe('outbound sessions leave nothing behind', () => {
  it('1,000 sequential sessions: no growth in handles, listeners, pending commands or sessions', async () => {
    const problems: string[] = [];
    const refs: WeakRef<OutboundSession>[] = [];
    const server = await createOutboundServer({
      port: 0,
      log: silentLog,
      lingerSeconds: 5,
      events: ['PLAYBACK_START', 'PLAYBACK_STOP', 'CUSTOM', 'mod_audio_stream::json'],
      onSession: async (s: OutboundSession) => {
        refs.push(new WeakRef(s));
        s.on('event', () => undefined);
        s.on('dtmf', () => undefined);
        const onAbort = (): void => undefined;
        s.hangupSignal.addEventListener('abort', onAbort, { once: true });
        const r = await s.execute('playback', '/tmp/voice-ai/prompt.wav', { timeoutMs: 5000 });
        if (r.response !== 'FILE PLAYED') problems.push(`response ${r.response}`);
        await s.hangup();
        if (!s.hangupSignal.aborted) problems.push('hangup not signalled');
        await s.close();
        if (s.pendingCount() !== 0) problems.push(`pending ${s.pendingCount()}`);
        if (s.socketListenerCount() !== 0) problems.push(`socket listeners ${s.socketListenerCount()}`);
        if (s.eventNames().length !== 0) problems.push(`session listeners ${s.eventNames().join()}`);
      },
    });
    const run = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const peer = autoPeer(server.port);
        await peer.closed;
      }
      await settle();
    };
    try {
      await run(20);
      gc();
      const resourcesBefore = process.getActiveResourcesInfo().length;
      const heapBefore = process.memoryUsage().heapUsed;
      await run(1000);
      const resourcesAfter = process.getActiveResourcesInfo().length;
      expect(problems).toEqual([]);
      expect(server.sessions).toBe(0);
      expect(resourcesAfter).toBeLessThanOrEqual(resourcesBefore);
      await settle();
      gc();
      expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
      // A retained session costs well over 2 KB; 1,000 of them would show.
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(2 * 1024 * 1024);
    } finally {
      server.destroy();
    }
  }, 60_000);
});
