import { describe, expect, it } from 'vitest';
import { withTimeout } from '../../src/core/abort.js';
import { AbortedError, TimeoutError } from '../../src/core/errors.js';

const never = (): Promise<never> => new Promise<never>(() => undefined);
const later = <T>(ms: number, v: T): Promise<T> => new Promise((r) => setTimeout(() => r(v), ms));

describe('withTimeout (core)', () => {
  it('settles with the promise when it comes first', async () => {
    await expect(withTimeout(later(5, 'ok'), 1000, 'x')).resolves.toBe('ok');
    await expect(withTimeout(Promise.reject(new Error('boom')), 1000, 'x')).rejects.toThrow('boom');
  });

  it('rejects with a TimeoutError naming what timed out, or with onTimeout()', async () => {
    const t = withTimeout(never(), 10, 'auth/request');
    await expect(t).rejects.toBeInstanceOf(TimeoutError);
    await expect(t).rejects.toThrow('auth/request timed out after 10 ms');
    const custom = new Error('mine');
    await expect(withTimeout(never(), 10, 'x', undefined, () => custom)).rejects.toBe(custom);
  });

  it('sets no timer when timeoutMs is undefined', async () => {
    await expect(withTimeout(later(30, 'slow'), undefined, 'x')).resolves.toBe('slow');
  });

  it('rejects with AbortedError on the signal, already aborted or later', async () => {
    const gone = new AbortController();
    gone.abort(new Error('hangup'));
    await expect(withTimeout(never(), 1000, 'stt', gone.signal)).rejects.toThrow('stt aborted');
    const ctl = new AbortController();
    const p = withTimeout(never(), undefined, 'tts', ctl.signal);
    ctl.abort();
    await expect(p).rejects.toBeInstanceOf(AbortedError);
  });
});
