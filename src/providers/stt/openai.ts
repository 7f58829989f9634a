import { encodeWav } from '../../audio/wav.js';
import { ProviderError } from '../../core/errors.js';
import { isoLanguage, openAiHeaders, secretsOf, type OpenAiConfig } from '../openai-compatible.js';
import { post, readJson, type HttpCall } from '../transport/http.js';
import { encodeMultipart, type MultipartField } from '../transport/multipart.js';
import type { PcmAudio, SttProvider, Transcript, TranscribeOptions } from '../types.js';

/** Whole-utterance transcription through `/audio/transcriptions` (OpenAI, Groq, vLLM, LocalAI). */
export function createOpenAiStt(config: OpenAiConfig): SttProvider {
  return { info: config.info, transcribe: (audio, opts, signal) => transcribe(config, audio, opts, signal) };
}

async function transcribe(
  config: OpenAiConfig,
  audio: PcmAudio,
  opts: TranscribeOptions,
  signal: AbortSignal,
): Promise<Transcript> {
  const durationMs = Math.round((audio.samples.length / audio.sampleRateHz) * 1000);
  // OpenAI rejects clips under 0.1 s with a 400; an empty clip has nothing to say anyway.
  if (audio.samples.length === 0) return { text: '', durationMs: 0 };
  const fields: MultipartField[] = [
    { name: 'model', value: config.info.model },
    {
      name: 'file',
      filename: 'audio.wav',
      contentType: 'audio/wav',
      data: encodeWav(audio.samples, audio.sampleRateHz),
    },
    { name: 'response_format', value: 'json' },
  ];
  const language = isoLanguage(opts.language ?? config.language);
  if (language !== undefined) fields.push({ name: 'language', value: language });
  if (opts.prompt !== undefined && opts.prompt !== '') fields.push({ name: 'prompt', value: opts.prompt });
  const form = encodeMultipart(fields);
  const call: HttpCall = {
    vendor: config.info.vendor,
    url: `${config.baseUrl}/audio/transcriptions`,
    headers: openAiHeaders(config, form.contentType),
    body: form.body,
    signal,
    fetch: config.fetch,
    secrets: secretsOf(config),
  };
  const res = await post(call);
  const body = (await readJson(res, call)) as { text?: unknown; language?: unknown } | null;
  if (typeof body?.text !== 'string') {
    throw new ProviderError(call.vendor, `${call.vendor} transcription has no text`, { retryable: false });
  }
  return {
    text: body.text.trim(),
    durationMs,
    ...(typeof body.language === 'string' && body.language !== '' ? { language: body.language } : {}),
  };
}
