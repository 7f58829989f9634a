import { describe, expect, it } from 'vitest';
import { AbortedError, ProviderError } from '../../src/core/errors.js';
import type { Clock } from '../../src/core/clock.js';
import type { EmbeddingsProvider, PcmAudio, TtsProvider } from '../../src/providers/types.js';
import { withMetrics, type ProviderSample } from '../../src/providers/wrap/metrics.js';

/** A clock that moves only when told. */
function manualClock(): Clock & { advance(ms: number): void } {
  let t = 0;
  return { now: () => t, monotonicMs: () => t, advance: (ms) => void (t += ms) };
}

const INFO = { vendor: 'openai', kind: 'tts', model: 'tts-1', providerUuid: 'p-1' } as const;

function tts(clock: ReturnType<typeof manualClock>, fail?: Error): TtsProvider {
  return {
    info: INFO,
    async *synthesize(): AsyncGenerator<PcmAudio> {
      clock.advance(120);
      if (fail && fail instanceof AbortedError) throw fail;
      yield { samples: new Int16Array(10), sampleRateHz: 24_000 };
      clock.advance(300);
      if (fail) throw fail;
      yield { samples: new Int16Array(10), sampleRateHz: 24_000 };
    },
  };
}

async function drain(p: TtsProvider, signal = new AbortController().signal): Promise<unknown> {
  try {
    for await (const _ of p.synthesize('oi', {}, signal));
    return undefined;
  } catch (err) {
    return err;
  }
}

describe('withMetrics', () => {
  it('reports latency to first output and total for a stream', async () => {
    const clock = manualClock();
    const samples: ProviderSample[] = [];
    await drain(withMetrics(tts(clock), (s) => samples.push(s), { clock }));
    expect(samples).toEqual([
      {
        vendor: 'openai',
        kind: 'tts',
        model: 'tts-1',
        providerUuid: 'p-1',
        outcome: 'ok',
        firstOutputMs: 120,
        totalMs: 420,
      },
    ]);
  });

  it('reports errors with their status and code, and aborts as aborted', async () => {
    const clock = manualClock();
    const samples: ProviderSample[] = [];
    const failing = new ProviderError('openai', 'boom', { status: 503, retryable: true });
    await drain(withMetrics(tts(clock, failing), (s) => samples.push(s), { clock }));
    await drain(withMetrics(tts(clock, new AbortedError()), (s) => samples.push(s), { clock }));
    expect(samples[0]).toMatchObject({
      outcome: 'error',
      status: 503,
      errorCode: 'E_PROVIDER',
      firstOutputMs: 120,
    });
    expect(samples[1]).toMatchObject({ outcome: 'aborted', errorCode: 'E_ABORTED' });
    expect(samples[1]).not.toHaveProperty('firstOutputMs');
  });

  it('reports one-shot calls, and a throwing sink loses only the sample', async () => {
    const clock = manualClock();
    const emb: EmbeddingsProvider = {
      info: { vendor: 'ollama', kind: 'embeddings', model: 'nomic-embed-text' },
      dimensions: 768,
      embed: async (texts) => {
        clock.advance(50);
        return texts.map(() => [0]);
      },
    };
    const samples: ProviderSample[] = [];
    const wrapped = withMetrics(emb, (s) => samples.push(s), { clock });
    expect(wrapped.dimensions).toBe(768);
    expect(await wrapped.embed(['a'], new AbortController().signal)).toEqual([[0]]);
    expect(samples).toEqual([
      {
        vendor: 'ollama',
        kind: 'embeddings',
        model: 'nomic-embed-text',
        outcome: 'ok',
        firstOutputMs: 50,
        totalMs: 50,
      },
    ]);
    const broken = withMetrics(emb, () => {
      throw new Error('sink down');
    });
    expect(await broken.embed(['a'], new AbortController().signal)).toEqual([[0]]);
  });
});
