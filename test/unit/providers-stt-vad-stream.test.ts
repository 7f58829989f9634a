import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseWav } from '../../src/audio/wav.js';
import { ProviderError } from '../../src/core/errors.js';
import { createOpenAiStt } from '../../src/providers/stt/openai.js';
import { batchSttStream } from '../../src/providers/stt/vad-stream.js';
import type { SttEvent, SttStream } from '../../src/providers/types.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import { serverError } from '../fakes/openai-replies.js';
import { startFakeOpenAi, type FakeFile, type FakeOpenAi } from '../fakes/openai-server.js';

// 1 s of silence, speech until 3,300 ms, 420 ms of silence (see media-endpointer.test.ts).
const SALES = parseWav(
  readFileSync(path.resolve(import.meta.dirname, '../fixtures/audio/fake-fs-sales-8k.wav')),
);
const RATE = SALES.sampleRateHz;

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});
afterEach(() => fake.close());

function writeFrames(s: SttStream, samples: Int16Array): void {
  const n = RATE / 50;
  for (let off = 0; off < samples.length; off += n) s.write(samples.subarray(off, off + n));
}
async function collect(s: SttStream): Promise<SttEvent[]> {
  const out: SttEvent[] = [];
  for await (const e of s.events) out.push(e);
  return out;
}

describe('a batch STT as a stream (VAD endpointed)', () => {
  it('each utterance is transcribed once, whole, and comes out as a final end-of-turn', async () => {
    const texts = ['Quero falar com vendas.', 'E o horário?'];
    fake.on('transcriptions', () => ({ type: 'transcription', text: ` ${texts.shift() ?? ''} ` }));
    const ctl = new AbortController();
    const s = batchSttStream(
      createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')),
      { sampleRateHz: RATE, language: 'pt-BR' },
      ctl.signal,
    );
    const events = collect(s);
    writeFrames(s, SALES.samples);
    writeFrames(s, new Int16Array(RATE));
    writeFrames(s, SALES.samples);
    writeFrames(s, new Int16Array(RATE));
    await s.close();
    const fileMs = Math.round((SALES.samples.length * 1000) / RATE / 20) * 20;
    // Written all at once (faster than real time): both speech starts come before the first transcript.
    expect(await events).toEqual([
      { type: 'speech_started', atMs: 1000 },
      { type: 'speech_started', atMs: fileMs + 1000 + 1000 },
      { type: 'final', text: 'Quero falar com vendas.', endOfTurn: true, atMs: 3300 },
      { type: 'final', text: 'E o horário?', endOfTurn: true, atMs: fileMs + 1000 + 3300 },
    ]);
    expect(fake.requests.map((r) => r.form?.['language'])).toEqual(['pt', 'pt']);
    // The WAV sent is the utterance: 200 ms of pre-roll to the end of the last voiced frame.
    const wav = (fake.requests[0]?.form?.['file'] as FakeFile).bytes;
    expect(wav.readUInt32LE(40)).toBe(((3300 - 800) * RATE * 2) / 1000);
  });

  it('silence and line noise never reach the STT', async () => {
    const s = batchSttStream(
      createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')),
      { sampleRateHz: RATE },
      new AbortController().signal,
    );
    const events = collect(s);
    writeFrames(s, new Int16Array(RATE * 3));
    await s.close();
    expect(await events).toEqual([]);
    expect(fake.requests).toEqual([]);
  });

  it('endpointingMs sets the trailing silence; finalize() ends the utterance being spoken now', async () => {
    fake.on('transcriptions', () => ({ type: 'transcription', text: 'Alô.' }));
    const s = batchSttStream(
      createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')),
      { sampleRateHz: RATE, endpointingMs: 300 },
      new AbortController().signal,
    );
    const events = collect(s);
    // Speech cut off mid-word, no trailing silence: nothing is final until finalize().
    writeFrames(s, SALES.samples.subarray(0, 2 * RATE));
    s.finalize();
    await s.close();
    expect((await events).filter((e) => e.type === 'final')).toEqual([
      { type: 'final', text: 'Alô.', endOfTurn: true, atMs: 2000 },
    ]);
  });

  it('a 5xx from the STT ends the events with the ProviderError', async () => {
    fake.on('transcriptions', () => serverError(503));
    const s = batchSttStream(
      createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')),
      { sampleRateHz: RATE },
      new AbortController().signal,
    );
    const events = collect(s);
    writeFrames(s, SALES.samples);
    writeFrames(s, new Int16Array(RATE));
    const err: unknown = await events.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).status).toBe(503);
    await s.close();
  });

  it('aborting the signal ends the events at once and cancels the transcription in flight', async () => {
    fake.on('transcriptions', () => ({
      type: 'transcription',
      text: 'tarde demais',
      latency: { firstByteMs: 30_000 },
    }));
    const ctl = new AbortController();
    const s = batchSttStream(
      createOpenAiStt(fakeConfig(fake.baseUrl, 'stt')),
      { sampleRateHz: RATE },
      ctl.signal,
    );
    const events = collect(s);
    writeFrames(s, SALES.samples);
    writeFrames(s, new Int16Array(RATE));
    const req = await fake.nextRequest();
    ctl.abort();
    expect(await events).toEqual([{ type: 'speech_started', atMs: 1000 }]);
    await req.closed;
    expect(req.aborted).toBe(true);
    await s.close();
  });
});
