import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOpenAiStt } from '../../src/providers/stt/openai.js';
import { createOpenAiTts } from '../../src/providers/tts/openai.js';
import type { PcmAudio } from '../../src/providers/types.js';
import { FAKE_API_KEY, fakeConfig } from '../fakes/openai-rows.js';
import { pcmBytes, startFakeOpenAi, tone, type FakeFile, type FakeOpenAi } from '../fakes/openai-server.js';

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi({ apiKey: FAKE_API_KEY });
});
afterEach(() => fake.close());

const signal = (): AbortSignal => new AbortController().signal;

describe('OpenAI transcription adapter', () => {
  it('posts a 16-bit mono WAV as multipart with the ISO-639-1 language', async () => {
    fake.script('transcriptions', { type: 'transcription', text: ' Quero falar com vendas. ' });
    const stt = createOpenAiStt(fakeConfig(fake.baseUrl, 'stt'));
    const samples = tone(1500, 16_000);
    const result = await stt.transcribe(
      { samples, sampleRateHz: 16_000 },
      { language: 'pt-BR', prompt: 'Acme, Joaquim' },
      signal(),
    );
    expect(result).toEqual({ text: 'Quero falar com vendas.', durationMs: 1500 });
    const req = fake.requests[0];
    expect(req?.path).toBe('/v1/audio/transcriptions');
    expect(req?.headers.authorization).toBe(`Bearer ${FAKE_API_KEY}`);
    const { file, ...fields } = req?.form ?? {};
    expect(fields).toEqual({
      model: 'whisper-1',
      language: 'pt',
      prompt: 'Acme, Joaquim',
      response_format: 'json',
    });
    const wav = (file as FakeFile).bytes;
    expect((file as FakeFile).filename).toBe('audio.wav');
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(wav.readUInt16LE(20)).toBe(1);
    expect(wav.readUInt16LE(22)).toBe(1);
    expect(wav.readUInt32LE(24)).toBe(16_000);
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.readUInt32LE(40)).toBe(samples.length * 2);
    expect(wav.subarray(44).equals(pcmBytes(samples))).toBe(true);
  });

  it('uses the configured language when the call gives none, and skips empty audio', async () => {
    fake.script('transcriptions', { type: 'transcription', text: 'olá' });
    const stt = createOpenAiStt(fakeConfig(fake.baseUrl, 'stt', { config: { language: 'es-MX' } }));
    await stt.transcribe({ samples: tone(200, 8000), sampleRateHz: 8000 }, {}, signal());
    expect(fake.requests[0]?.form?.['language']).toBe('es');
    expect(await stt.transcribe({ samples: new Int16Array(0), sampleRateHz: 8000 }, {}, signal())).toEqual({
      text: '',
      durationMs: 0,
    });
    expect(fake.requests).toHaveLength(1);
  });
});

describe('OpenAI speech adapter', () => {
  async function synth(chunkBytes: number, samples: Int16Array): Promise<PcmAudio[]> {
    fake.script('speech', { type: 'speech', samples, chunkBytes, latency: { perChunkMs: 1 } });
    const tts = createOpenAiTts(fakeConfig(fake.baseUrl, 'tts', { config: { voice: 'nova', speed: 1.1 } }));
    const out: PcmAudio[] = [];
    for await (const chunk of tts.synthesize('Um momento, por favor.', {}, signal())) out.push(chunk);
    return out;
  }

  it('streams 24 kHz PCM, carrying odd bytes between network chunks', async () => {
    const samples = tone(300);
    const chunks = await synth(1001, samples);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.every((c) => c.sampleRateHz === 24_000)).toBe(true);
    const joined = Int16Array.from(chunks.flatMap((c) => [...c.samples]));
    expect(joined).toEqual(samples);
    expect(fake.requests[0]?.body).toEqual({
      model: 'tts-1',
      input: 'Um momento, por favor.',
      voice: 'nova',
      response_format: 'pcm',
      speed: 1.1,
    });
  });

  it('lets the call choose the voice, and makes no request for empty text', async () => {
    const tts = createOpenAiTts(fakeConfig(fake.baseUrl, 'tts'));
    for await (const _ of tts.synthesize('   ', {}, signal())) expect.unreachable();
    expect(fake.requests).toHaveLength(0);
    for await (const _ of tts.synthesize('Oi', { voice: 'shimmer' }, signal())) break;
    expect(fake.requests[0]?.body).toMatchObject({ voice: 'shimmer' });
  });

  it('aborting mid-audio stops the stream and the server sees the client leave', async () => {
    fake.script('speech', {
      type: 'speech',
      durationMs: 2000,
      chunkBytes: 4800,
      fault: { afterBytes: 9600, type: 'hang' },
    });
    const tts = createOpenAiTts(fakeConfig(fake.baseUrl, 'tts'));
    const ac = new AbortController();
    const err = await (async () => {
      for await (const _ of tts.synthesize('Olá', {}, ac.signal)) ac.abort();
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AbortedError' });
    await fake.requests[0]?.closed;
    expect(fake.requests[0]?.aborted).toBe(true);
  });
});
