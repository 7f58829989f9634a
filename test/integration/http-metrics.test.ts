import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LabelLimiter, createMetrics, type Metrics } from '../../src/http/metrics.js';
import { startHttpServer, type HttpServer } from '../../src/http/server.js';

const log = pino({ level: 'silent' });
const servers: HttpServer[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Just enough of the Prometheus text format: TYPE lines and samples with quoted label values. */
function parse(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1] ?? '', type[2] ?? '');
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] ?? ''] = l[2] ?? '';
    samples.push({ name: m[1] ?? '', labels, value: Number(m[3]) });
  }
  return { types, samples };
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

async function scrape(metrics: Metrics): Promise<{ contentType: string | null; text: string }> {
  const server = await startHttpServer({ port: 0, metrics, readiness: () => ({ checks: [] }), log });
  servers.push(server);
  const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
  expect(res.status).toBe(200);
  return { contentType: res.headers.get('content-type'), text: await res.text() };
}

describe('GET /metrics', () => {
  it('exposes every voice_ai series, with labels, after a sample of each', async () => {
    const metrics = createMetrics();
    metrics.callStarted('a.example.com');
    metrics.callStarted('a.example.com');
    metrics.callEnded('a.example.com', 'transferred');
    metrics.observeTurnStage('stt', 'openai', 320);
    metrics.observeTurnStage('llm_first_token', 'groq', 450);
    metrics.observeTurnStage('tts_first_byte', 'elevenlabs', 180);
    metrics.observeTurnStage('turn', 'openai', 1200);
    metrics.providerError({ vendor: 'openai', kind: 'llm', status: 429 });
    metrics.providerError({ vendor: 'openai', kind: 'stt' });
    metrics.observeWriteQueueFlush(12);
    metrics.setWriteQueueSource(() => ({ depth: 7, spooledRows: 42 }));
    metrics.setEslSource(() => ({ connected: true, reconnects: 3 }));

    const { contentType, text } = await scrape(metrics);
    expect(contentType).toBe(metrics.contentType);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const { types, samples } = parse(text);

    expect(types.get('voice_ai_calls_active')).toBe('gauge');
    expect(types.get('voice_ai_calls_total')).toBe('counter');
    expect(types.get('voice_ai_turn_stage_seconds')).toBe('histogram');
    expect(types.get('voice_ai_provider_errors_total')).toBe('counter');
    expect(types.get('voice_ai_write_queue_depth')).toBe('gauge');
    expect(types.get('voice_ai_write_queue_spooled_rows')).toBe('gauge');
    expect(types.get('voice_ai_write_queue_flush_seconds')).toBe('histogram');
    expect(types.get('voice_ai_esl_connected')).toBe('gauge');
    expect(types.get('voice_ai_esl_reconnects_total')).toBe('counter');
    expect(text).toContain('# TYPE voice_ai_calls_total counter\n');

    expect(find(samples, 'voice_ai_calls_active', { domain: 'a.example.com' })[0]?.value).toBe(1);
    expect(
      find(samples, 'voice_ai_calls_total', { domain: 'a.example.com', resolution: 'transferred' })[0]?.value,
    ).toBe(1);
    for (const [stage, provider] of [
      ['stt', 'openai'],
      ['llm_first_token', 'groq'],
      ['tts_first_byte', 'elevenlabs'],
      ['turn', 'openai'],
    ] as const) {
      expect(find(samples, 'voice_ai_turn_stage_seconds_count', { stage, provider })[0]?.value, stage).toBe(
        1,
      );
    }
    // 450 ms lands in the 0.5 s bucket, not the 0.3 s one.
    const llm = { stage: 'llm_first_token', provider: 'groq' };
    expect(find(samples, 'voice_ai_turn_stage_seconds_bucket', { ...llm, le: '0.3' })[0]?.value).toBe(0);
    expect(find(samples, 'voice_ai_turn_stage_seconds_bucket', { ...llm, le: '0.5' })[0]?.value).toBe(1);
    expect(find(samples, 'voice_ai_turn_stage_seconds_sum', llm)[0]?.value).toBeCloseTo(0.45);
    const les = find(samples, 'voice_ai_turn_stage_seconds_bucket', llm).map((s) => s.labels.le);
    expect(les[0]).toBe('0.05');
    expect(les).toContain('10');

    expect(
      find(samples, 'voice_ai_provider_errors_total', { vendor: 'openai', kind: 'llm', status: '429' })[0]
        ?.value,
    ).toBe(1);
    expect(
      find(samples, 'voice_ai_provider_errors_total', { vendor: 'openai', kind: 'stt', status: 'none' })[0]
        ?.value,
    ).toBe(1);
    expect(find(samples, 'voice_ai_write_queue_depth')[0]?.value).toBe(7);
    expect(find(samples, 'voice_ai_write_queue_spooled_rows')[0]?.value).toBe(42);
    expect(find(samples, 'voice_ai_write_queue_flush_seconds_count')[0]?.value).toBe(1);
    expect(find(samples, 'voice_ai_write_queue_flush_seconds_sum')[0]?.value).toBeCloseTo(0.012);
    expect(find(samples, 'voice_ai_esl_connected')[0]?.value).toBe(1);
    expect(find(samples, 'voice_ai_esl_reconnects_total')[0]?.value).toBe(3);

    // prom-client's defaults: process metrics and event-loop lag.
    expect(types.get('nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(types.has('nodejs_eventloop_lag_p99_seconds')).toBe(true);
    expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
  });

  it('keeps several registries apart', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.callStarted('a.example.com');
    const { samples } = parse(await b.render());
    expect(find(samples, 'voice_ai_calls_active')).toEqual([]);
    expect(find(parse(await a.render()).samples, 'voice_ai_calls_active')).toHaveLength(1);
  });

  it('reads sources at every scrape and turns cumulative reconnects into counter increments', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    let esl = { connected: true, reconnects: 2 };
    metrics.setEslSource(() => esl);
    let depth = 1;
    metrics.setWriteQueueSource(() => ({ depth, spooledRows: 0 }));
    let s = parse(await metrics.render()).samples;
    expect(find(s, 'voice_ai_esl_reconnects_total')[0]?.value).toBe(2);
    expect(find(s, 'voice_ai_write_queue_depth')[0]?.value).toBe(1);

    esl = { connected: false, reconnects: 5 };
    depth = 9;
    s = parse(await metrics.render()).samples;
    expect(find(s, 'voice_ai_esl_connected')[0]?.value).toBe(0);
    expect(find(s, 'voice_ai_esl_reconnects_total')[0]?.value).toBe(5);
    expect(find(s, 'voice_ai_write_queue_depth')[0]?.value).toBe(9);

    // A new connection object counts from zero again; the counter keeps going forward.
    metrics.setEslSource(() => ({ connected: true, reconnects: 1 }));
    s = parse(await metrics.render()).samples;
    expect(find(s, 'voice_ai_esl_reconnects_total')[0]?.value).toBe(6);
  });

  it('survives a source that throws', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.setWriteQueueSource(() => {
      throw new Error('stats broke');
    });
    metrics.setEslSource(() => {
      throw new Error('stats broke');
    });
    const { text } = await scrape(metrics);
    expect(text).toContain('# TYPE voice_ai_write_queue_depth gauge');
  });

  it('ignores negative and non-finite durations', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.observeTurnStage('stt', 'openai', -5);
    metrics.observeTurnStage('stt', 'openai', Number.NaN);
    metrics.observeWriteQueueFlush(Number.POSITIVE_INFINITY);
    const { samples } = parse(await metrics.render());
    expect(find(samples, 'voice_ai_turn_stage_seconds_count')).toEqual([]);
    expect(find(samples, 'voice_ai_write_queue_flush_seconds_count')[0]?.value).toBe(0);
  });

  it('maps a non-HTTP status to "other"', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.providerError({ vendor: 'openai', kind: 'tts', status: 42 });
    const { samples } = parse(await metrics.render());
    expect(find(samples, 'voice_ai_provider_errors_total')[0]?.labels.status).toBe('other');
  });
});

describe('label limiter', () => {
  it('records the 201st distinct domain as "other"', async () => {
    const warnings: unknown[] = [];
    const warnLog = pino(
      { level: 'warn' },
      { write: (line: string) => void warnings.push(JSON.parse(line)) },
    );
    const metrics = createMetrics({ defaultMetrics: false, log: warnLog });
    for (let i = 1; i <= 201; i++) metrics.callStarted(`d${i}.example.com`);
    metrics.callStarted('d202.example.com');
    metrics.callStarted('d1.example.com');

    const { samples } = parse(await metrics.render());
    const active = find(samples, 'voice_ai_calls_active');
    expect(active).toHaveLength(201);
    expect(find(samples, 'voice_ai_calls_active', { domain: 'd200.example.com' })[0]?.value).toBe(1);
    expect(find(samples, 'voice_ai_calls_active', { domain: 'd201.example.com' })).toEqual([]);
    expect(find(samples, 'voice_ai_calls_active', { domain: 'other' })[0]?.value).toBe(2);
    expect(find(samples, 'voice_ai_calls_active', { domain: 'd1.example.com' })[0]?.value).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ label: 'domain', maxValues: 200 });

    // A refused domain's call ends on the same "other" series it started on.
    metrics.callEnded('d201.example.com', 'completed');
    const after = parse(await metrics.render()).samples;
    expect(find(after, 'voice_ai_calls_active', { domain: 'other' })[0]?.value).toBe(1);
    expect(find(after, 'voice_ai_calls_total', { domain: 'other', resolution: 'completed' })[0]?.value).toBe(
      1,
    );
  });

  it('budgets each label separately and keeps its mapping stable', () => {
    const limiter = new LabelLimiter({ maxValues: 2 });
    expect(limiter.value('domain', 'a')).toBe('a');
    expect(limiter.value('domain', 'b')).toBe('b');
    expect(limiter.value('domain', 'c')).toBe('other');
    expect(limiter.value('domain', 'a')).toBe('a');
    expect(limiter.value('domain', 'c')).toBe('other');
    expect(limiter.value('provider', 'c')).toBe('c');
    expect(limiter.size('domain')).toBe(2);
    expect(limiter.maxValues).toBe(2);
  });

  it('names empty values and cuts long ones', () => {
    const limiter = new LabelLimiter();
    expect(limiter.maxValues).toBe(200);
    expect(limiter.value('domain', '')).toBe('unknown');
    expect(limiter.value('domain', 'x'.repeat(500))).toHaveLength(100);
  });

  it('refuses a budget that is not a positive integer', () => {
    expect(() => new LabelLimiter({ maxValues: 0 })).toThrow(RangeError);
  });
});
