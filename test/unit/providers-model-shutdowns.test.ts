import { describe, expect, it } from 'vitest';
import { OPENAI_DEFAULT_MODELS } from '../../src/providers/openai-compatible.js';
import { findShutdown, shutdownOf } from '../../src/providers/model-shutdowns.js';

const row = (provider_type: string, provider_name: string, config: Record<string, unknown>) => ({
  provider_type,
  provider_name,
  config,
});
const DAY = new Date('2026-12-04T12:00:00Z');

describe('known model shutdowns', () => {
  it('has the dates the openai SDK types announce', () => {
    expect(findShutdown('openai', 'tts-1')?.date).toBe('2027-01-06');
    expect(findShutdown('openai', 'gpt-4o-mini-tts-2025-12-15')?.date).toBe('2027-01-06');
    expect(findShutdown('openai', 'gpt-realtime-mini')?.date).toBe('2027-01-20');
    expect(findShutdown('openai', 'WHISPER-1')?.date).toBe('2027-02-26');
    expect(findShutdown('openai', 'gpt-4o-transcribe-diarize')?.date).toBe('2027-02-26');
    expect(findShutdown('openai', 'gpt-realtime-2.1-mini')).toBeUndefined();
    expect(findShutdown('openai', 'gpt-transcribe')).toBeUndefined();
  });

  it('no adapter default is on the list', () => {
    for (const model of Object.values(OPENAI_DEFAULT_MODELS))
      expect(findShutdown('openai', model)).toBeUndefined();
  });

  it('applies to OpenAI only: an imitator may serve any name for as long as it likes', () => {
    expect(shutdownOf(row('stt', 'localai', { model: 'whisper-1' }), DAY)).toBeUndefined();
    expect(shutdownOf(row('stt', 'openai', { model: 'whisper-1' }), DAY)).toMatchObject({
      model: 'whisper-1',
      past: false,
    });
  });

  it('is past from the shutdown day on (UTC), and a row without a model runs the current default', () => {
    const tts1 = row('tts', 'openai', { model: 'tts-1' });
    expect(shutdownOf(tts1, new Date('2027-01-05T23:59:59Z'))?.past).toBe(false);
    expect(shutdownOf(tts1, new Date('2027-01-06T00:00:00Z'))?.past).toBe(true);
    expect(shutdownOf(row('tts', 'openai', {}), DAY)).toBeUndefined();
    expect(shutdownOf(row('realtime', 'openai', { model: 'gpt-realtime' }), DAY)?.shutdown.date).toBe(
      '2027-01-20',
    );
  });
});
