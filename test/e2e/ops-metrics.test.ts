import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverError } from '../fakes/openai-server.js';
import { startHarness, utterance, type Harness } from './call-harness.js';
import { httpGet, parseMetrics, samples, type Sample } from './ops-daemon.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function scrape(): Promise<Sample[]> {
  const res = await httpGet(h.daemon.httpPort, '/metrics');
  expect(res.status).toBe(200);
  expect(res.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(res.text);
}

const value = (all: Sample[], name: string, labels: Record<string, string> = {}): number | undefined => {
  const found = samples(all, name, labels);
  expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
  return found[0]?.value;
};

describe('/metrics after calls', () => {
  it('counts the call by domain and resolution and exposes turn stages, queue, ESL and process series', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', { type: 'transcription', text: 'Qual o horário?' });
    h.ai.script('chat', {
      type: 'chat',
      text: 'Das oito às dezoito.',
      toolCalls: [{ name: 'end_call', arguments: {} }],
    });
    const call = h.call(t, { script: utterance() });
    await call.ended;
    expect((await h.conversation(call.uuid)).resolution).toBe('completed');

    const m = await scrape();
    expect(value(m, 'voice_ai_calls_total', { domain: t.domain_name, resolution: 'completed' })).toBe(1);
    expect(value(m, 'voice_ai_calls_active', { domain: t.domain_name })).toBe(0);
    for (const stage of ['stt', 'llm_first_token', 'tts_first_byte', 'turn']) {
      expect(
        value(m, 'voice_ai_turn_stage_seconds_count', { stage, provider: 'openai' }),
      ).toBeGreaterThanOrEqual(1);
      expect(
        samples(m, 'voice_ai_turn_stage_seconds_bucket', { stage, provider: 'openai', le: '+Inf' })[0]?.value,
      ).toBeGreaterThanOrEqual(1);
    }
    expect(value(m, 'voice_ai_write_queue_depth')).toBeGreaterThanOrEqual(0);
    expect(value(m, 'voice_ai_write_queue_spooled_rows')).toBe(0);
    // The call's rows were written: at least one batch's flush latency was observed.
    expect(value(m, 'voice_ai_write_queue_flush_seconds_count')).toBeGreaterThan(0);
    expect(value(m, 'voice_ai_esl_connected')).toBe(1);
    // prom-client's default process and event-loop series, on the daemon's own registry.
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(value(m, name)).toBeGreaterThan(0);
    }
    // Lag is sampled at scrape time: present, possibly 0 on an idle loop.
    expect(value(m, 'nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(m, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('an STT 500 (retried, the call goes on) is counted by vendor, kind and status', async () => {
    const t = await h.tenant();
    h.ai.script('transcriptions', serverError(500), { type: 'transcription', text: 'Olá, tudo bem?' });
    h.ai.script('chat', {
      type: 'chat',
      text: 'Tudo ótimo!',
      toolCalls: [{ name: 'end_call', arguments: {} }],
    });
    const call = h.call(t, { script: utterance() });
    await call.ended;
    expect((await h.conversation(call.uuid)).resolution).toBe('completed');

    const m = await scrape();
    expect(value(m, 'voice_ai_provider_errors_total', { vendor: 'openai', kind: 'stt', status: '500' })).toBe(
      1,
    );
    expect(samples(m, 'voice_ai_provider_errors_total', { kind: 'llm' })).toEqual([]);
    expect(value(m, 'voice_ai_calls_total', { domain: t.domain_name, resolution: 'completed' })).toBe(1);
  });
});
