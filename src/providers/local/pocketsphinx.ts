/**
 * `pocketsphinx` STT: CMU PocketSphinx run on a temporary 16 kHz WAV of the utterance. Debian bookworm
 * ships 0.8+5prealpha (packages pocketsphinx and pocketsphinx-en-us), whose `pocketsphinx_continuous
 * -infile F` prints one plain-text line per detected utterance; PocketSphinx 5.x has `pocketsphinx single F`
 * printing JSON lines with the text in "t". Both are supported: the first found on PATH is used.
 * The stock model is US English and 16 kHz only; telephone audio (8 kHz) is upsampled, which does not
 * bring back the high band the model was trained with, so expect rough transcripts. It needs no network.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resample } from '../../audio/resample.js';
import { encodeWav } from '../../audio/wav.js';
import { throwIfAborted } from '../../core/abort.js';
import { ProviderError } from '../../core/errors.js';
import type { PcmAudio, ProviderInfo, SttProvider, Transcript, TranscribeOptions } from '../types.js';
import { checkExit, isNotInstalled, readAll, startChild } from './child.js';

export const POCKETSPHINX_NOT_FOUND =
  'pocketsphinx not found: apt-get install pocketsphinx pocketsphinx-en-us';
/** Where Debian's pocketsphinx-en-us puts the acoustic model the programs load by default. */
const DEBIAN_EN_US_MODEL = '/usr/share/pocketsphinx/model/en-us/en-us';
const MODEL_RATE_HZ = 16_000;

export interface PocketsphinxConfig {
  info: ProviderInfo;
  /** The language the model recognises ('en-US' for the stock model); other requested languages fail. */
  language: string;
  /** A custom acoustic model directory, language model and dictionary (PocketSphinx's -hmm, -lm, -dict). */
  hmm?: string;
  lm?: string;
  dict?: string;
  /** The program, when not one of the two found on PATH (tests); never taken from a row. */
  command?: string;
}

type Flavour = 'continuous' | 'single';

const CANDIDATES: readonly { command: string; flavour: Flavour }[] = [
  { command: 'pocketsphinx_continuous', flavour: 'continuous' },
  { command: 'pocketsphinx', flavour: 'single' },
];

export function createPocketsphinxStt(config: PocketsphinxConfig): SttProvider {
  // The program that worked last time, so a missing first candidate is not spawned again for every turn.
  let found: { command: string; flavour: Flavour } | undefined;
  return {
    info: config.info,
    async transcribe(audio, opts, signal) {
      const run = async (file: string): Promise<string> => {
        const candidates =
          config.command !== undefined
            ? [{ command: config.command, flavour: flavourOf(config.command) }]
            : found !== undefined
              ? [found]
              : CANDIDATES;
        for (const candidate of candidates) {
          try {
            const text = await recognise(config, candidate.command, candidate.flavour, file, signal);
            found = candidate;
            return text;
          } catch (err) {
            if (!isNotInstalled(err)) throw err;
          }
        }
        throw new ProviderError(config.info.vendor, POCKETSPHINX_NOT_FOUND, { retryable: false });
      };
      return transcribe(config, audio, opts, signal, run);
    },
  };
}

async function transcribe(
  config: PocketsphinxConfig,
  audio: PcmAudio,
  opts: TranscribeOptions,
  signal: AbortSignal,
  run: (file: string) => Promise<string>,
): Promise<Transcript> {
  throwIfAborted(signal);
  const durationMs = Math.round((audio.samples.length / audio.sampleRateHz) * 1000);
  if (audio.samples.length === 0) return { text: '', durationMs: 0 };
  const wanted = opts.language ?? config.language;
  if (primaryTag(wanted) !== primaryTag(config.language)) {
    throw new ProviderError(
      config.info.vendor,
      `pocketsphinx model recognises ${config.language}, not ${wanted}`,
      { retryable: false },
    );
  }
  const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-sphinx-'));
  try {
    const file = path.join(dir, 'utterance.wav');
    await writeFile(
      file,
      encodeWav(resample(audio.samples, audio.sampleRateHz, MODEL_RATE_HZ), MODEL_RATE_HZ),
    );
    const text = await run(file);
    return { text, language: config.language, durationMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function recognise(
  config: PocketsphinxConfig,
  command: string,
  flavour: Flavour,
  file: string,
  signal: AbortSignal,
): Promise<string> {
  const model = [
    ...(config.hmm === undefined ? [] : ['-hmm', config.hmm]),
    ...(config.lm === undefined ? [] : ['-lm', config.lm]),
    ...(config.dict === undefined ? [] : ['-dict', config.dict]),
  ];
  const args = flavour === 'continuous' ? [...model, '-infile', file] : [...model, 'single', file];
  const child = await startChild({
    vendor: config.info.vendor,
    command,
    args,
    notFound: POCKETSPHINX_NOT_FOUND,
    signal,
  });
  try {
    const out = (await readAll(child)).toString('utf8');
    const exit = await child.exited;
    if (exit.code !== 0 && !signal.aborted && config.hmm === undefined && !existsSync(DEBIAN_EN_US_MODEL)) {
      throw new ProviderError(
        config.info.vendor,
        'pocketsphinx has no en-US model: apt-get install pocketsphinx-en-us',
        { retryable: false },
      );
    }
    checkExit(config.info.vendor, command, exit, signal);
    return parseOutput(out);
  } finally {
    await child.close();
  }
}

/** The utterances' texts joined: plain lines (0.8+5prealpha) or JSON lines with "t" (5.x). */
export function parseOutput(out: string): string {
  const parts: string[] = [];
  for (const raw of out.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('{')) {
      try {
        const t = (JSON.parse(line) as { t?: unknown }).t;
        if (typeof t === 'string' && t.trim() !== '') parts.push(t.trim());
      } catch {
        // not JSON after all: a transcript does not start with '{', so this is noise
      }
      continue;
    }
    parts.push(line);
  }
  return parts.join(' ');
}

function flavourOf(command: string): Flavour {
  return path.basename(command).includes('continuous') ? 'continuous' : 'single';
}

function primaryTag(language: string): string {
  return language.trim().toLowerCase().split(/[-_]/)[0] ?? '';
}
