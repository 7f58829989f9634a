/**
 * `espeak` TTS: the espeak-ng program (Debian package espeak-ng), run once per sentence with the text as an
 * argument (no shell; `--` ends the options, so text starting with '-' is spoken, not parsed). Its
 * `--stdout` WAV has a streamed header (data size 0x7FFFF000), so the header is parsed once and the PCM
 * after it is yielded as it arrives, at the rate the header declares (22050 Hz for espeak-ng's voices).
 * Robotic, but offline, instant and free.
 */
import { createPcm16Decoder } from '../../audio/frames.js';
import { parseWav, type ParsedWav } from '../../audio/wav.js';
import { AudioFormatError, ProviderError } from '../../core/errors.js';
import type { PcmAudio, ProviderInfo, SynthesizeOptions, TtsProvider } from '../types.js';
import { checkExit, readAll, startChild, type RunningChild } from './child.js';

export const ESPEAK_NOT_FOUND = 'espeak-ng not found: apt-get install espeak-ng';

export interface EspeakConfig {
  info: ProviderInfo;
  /** An espeak-ng voice ('pt-br', 'en-us', 'pt-br+f3'); chosen from the language when absent. */
  voice?: string;
  /** The row's language, used when a request names none. */
  language: string;
  /** Speed in words per minute (espeak-ng's -s; its default is 175). */
  rateWpm?: number;
  /** The program to run; 'espeak-ng' (looked up on PATH) unless a test or an odd install says otherwise. */
  command: string;
}

const VOICES_TIMEOUT_MS = 10_000;
/** A header bigger than this without a data chunk is not espeak-ng's WAV. */
const MAX_HEADER_BYTES = 4096;

/** Languages whose bare tag is not the espeak-ng voice a caller expects. */
const LANGUAGE_VOICES: Readonly<Record<string, string>> = { pt: 'pt-br', en: 'en-us' };

export function createEspeakTts(config: EspeakConfig): TtsProvider {
  let voices: Promise<ReadonlySet<string>> | undefined;
  const knownVoices = (): Promise<ReadonlySet<string>> => {
    // Not tied to the first caller's signal: concurrent sentences share this listing (it takes ~10 ms).
    voices ??= listVoices(config, AbortSignal.timeout(VOICES_TIMEOUT_MS)).catch((err: unknown) => {
      voices = undefined; // a failed listing is tried again next time
      throw err;
    });
    return voices;
  };
  return {
    info: config.info,
    synthesize: (text, opts, signal) => synthesize(config, knownVoices, text, opts, signal),
  };
}

async function* synthesize(
  config: EspeakConfig,
  knownVoices: () => Promise<ReadonlySet<string>>,
  text: string,
  opts: SynthesizeOptions,
  signal: AbortSignal,
): AsyncGenerator<PcmAudio> {
  // Control characters (a NUL would make spawn throw) carry nothing speakable.
  const speakable = text.replace(/\p{Cc}+/gu, ' ').trim();
  if (speakable === '') return;
  const voice = chooseVoice(config, await knownVoices(), opts);
  const args = ['-v', voice, '-b', '1', '--stdout'];
  if (config.rateWpm !== undefined) args.push('-s', String(Math.round(config.rateWpm)));
  args.push('--', speakable);
  const child = await startChild({
    vendor: config.info.vendor,
    command: config.command,
    args,
    notFound: ESPEAK_NOT_FOUND,
    signal,
  });
  try {
    yield* readPcm(config, child);
    checkExit(config.info.vendor, config.command, await child.exited, signal);
  } finally {
    await child.close();
  }
}

async function* readPcm(config: EspeakConfig, child: RunningChild): AsyncGenerator<PcmAudio> {
  const pcm = createPcm16Decoder();
  let header = Buffer.alloc(0);
  let sampleRateHz: number | undefined;
  for await (const chunk of child.stdout) {
    let bytes = chunk as Buffer;
    if (sampleRateHz === undefined) {
      header = Buffer.concat([header, bytes]);
      const dataStart = findDataStart(header);
      if (dataStart === undefined) {
        if (header.length > MAX_HEADER_BYTES) throw badOutput(config, 'no WAV data chunk');
        continue;
      }
      const format = parseHeader(config, header.subarray(0, dataStart));
      if (format.format !== 'pcm' || format.bitsPerSample !== 16 || format.channels !== 1) {
        throw badOutput(config, `unexpected WAV format ${format.format} ${format.bitsPerSample}-bit`);
      }
      sampleRateHz = format.sampleRateHz;
      bytes = header.subarray(dataStart);
    }
    const samples = pcm.push(bytes);
    if (samples.length > 0) yield { samples, sampleRateHz };
  }
}

/** Offset of the first data byte, once the buffer holds the whole header; undefined until then. */
function findDataStart(b: Buffer): number | undefined {
  if (b.length < 12) return undefined;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    if (id === 'data') return off + 8;
    off += 8 + b.readUInt32LE(off + 4) + (b.readUInt32LE(off + 4) % 2);
  }
  return undefined;
}

function parseHeader(config: EspeakConfig, header: Buffer): ParsedWav {
  try {
    return parseWav(header);
  } catch (err) {
    if (err instanceof AudioFormatError) throw badOutput(config, err.message);
    throw err;
  }
}

function badOutput(config: EspeakConfig, why: string): ProviderError {
  return new ProviderError(config.info.vendor, `${config.command} wrote no usable WAV: ${why}`, {
    retryable: false,
  });
}

/**
 * The configured voice, else the request's when espeak-ng has it (the secretary's voice may name another
 * vendor's, such as OpenAI's 'alloy', and espeak-ng 1.51 crashes on a voice it does not know), else the
 * language's.
 */
function chooseVoice(config: EspeakConfig, known: ReadonlySet<string>, opts: SynthesizeOptions): string {
  const has = (v: string): boolean => known.has(v.toLowerCase().split('+')[0] ?? '');
  if (config.voice !== undefined) {
    if (has(config.voice)) return config.voice;
    throw new ProviderError(config.info.vendor, `espeak-ng has no voice '${config.voice}'`, {
      retryable: false,
    });
  }
  if (opts.voice !== undefined && opts.voice !== '' && has(opts.voice)) return opts.voice;
  const tag = (opts.language ?? config.language).toLowerCase().replace(/_/g, '-');
  const primary = tag.split('-')[0] ?? '';
  for (const v of [LANGUAGE_VOICES[tag], tag, LANGUAGE_VOICES[primary], primary]) {
    if (v !== undefined && v !== '' && has(v)) return v;
  }
  throw new ProviderError(config.info.vendor, `espeak-ng has no voice for language '${tag}'`, {
    retryable: false,
  });
}

/**
 * Every name `-v` accepts, lowercased: languages, voice names, voice files, and the other languages a
 * voice serves. MBROLA voices are left out: they need the mbrola program and voice files Debian does
 * not install with espeak-ng.
 */
async function listVoices(config: EspeakConfig, signal: AbortSignal): Promise<ReadonlySet<string>> {
  const child = await startChild({
    vendor: config.info.vendor,
    command: config.command,
    args: ['--voices'],
    notFound: ESPEAK_NOT_FOUND,
    signal,
  });
  try {
    const out = (await readAll(child)).toString('utf8');
    checkExit(config.info.vendor, config.command, await child.exited, signal);
    const names = new Set<string>();
    for (const line of out.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      const [, language, , name, file] = cols;
      if (language === undefined || name === undefined || file === undefined || file.startsWith('mb/'))
        continue;
      for (const v of [language, name, file]) names.add(v.toLowerCase());
      for (const m of cols
        .slice(5)
        .join(' ')
        .matchAll(/\(([\w-]+) \d+\)/g))
        names.add((m[1] ?? '').toLowerCase());
    }
    return names;
  } finally {
    await child.close();
  }
}
