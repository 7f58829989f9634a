import { createPcm16Decoder } from '../../audio/frames.js';
import { InvalidInputError } from '../../core/errors.js';
import { optionalPositive, openAiHeaders, secretsOf, type OpenAiConfig } from '../openai-compatible.js';
import { post, readBody, type HttpCall } from '../transport/http.js';
import type { PcmAudio, SynthesizeOptions, TtsProvider } from '../types.js';

/** OpenAI's `pcm` format: headerless 16-bit little-endian mono at 24 kHz. */
const OPENAI_PCM_RATE_HZ = 24_000;

/**
 * Streaming speech through `/audio/speech` with `response_format: 'pcm'`. The body arrives in arbitrary
 * chunks, so an odd trailing byte is carried into the next chunk and every yielded chunk holds whole samples.
 * Config: voice, speed, instructions, sample_rate_hz (for imitators whose pcm is not 24 kHz).
 */
export function createOpenAiTts(config: OpenAiConfig): TtsProvider {
  const where = `provider ${config.info.providerUuid ?? '?'} (${config.info.vendor} tts)`;
  const sampleRateHz = optionalPositive(config.extra, 'sample_rate_hz', where) ?? OPENAI_PCM_RATE_HZ;
  const speed = optionalPositive(config.extra, 'speed', where);
  const instructions = config.extra['instructions'];
  if (instructions !== undefined && typeof instructions !== 'string') {
    throw new InvalidInputError(`${where}: config.instructions must be a string`);
  }
  const extraBody = {
    ...(speed === undefined ? {} : { speed }),
    ...(instructions ? { instructions } : {}),
  };
  return {
    info: config.info,
    synthesize: (text, opts, signal) => synthesize(config, sampleRateHz, extraBody, text, opts, signal),
  };
}

async function* synthesize(
  config: OpenAiConfig,
  sampleRateHz: number,
  extraBody: Record<string, unknown>,
  text: string,
  opts: SynthesizeOptions,
  signal: AbortSignal,
): AsyncGenerator<PcmAudio> {
  if (text.trim() === '') return;
  const call: HttpCall = {
    vendor: config.info.vendor,
    url: `${config.baseUrl}/audio/speech`,
    headers: openAiHeaders(config, 'application/json'),
    body: JSON.stringify({
      model: config.info.model,
      input: text,
      voice: opts.voice ?? config.voice ?? 'alloy',
      response_format: 'pcm',
      ...extraBody,
    }),
    signal,
    fetch: config.fetch,
    secrets: secretsOf(config),
  };
  const res = await post(call);
  const pcm = createPcm16Decoder();
  for await (const bytes of readBody(res, call)) {
    const samples = pcm.push(bytes);
    if (samples.length > 0) yield { samples, sampleRateHz };
  }
  // A dangling odd byte at the very end is half a sample: nothing playable, so it is dropped.
}
