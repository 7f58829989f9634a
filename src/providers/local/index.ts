/**
 * Providers that run on this machine with no network and no key, built from provider rows like the HTTP
 * ones (and wrapped by the registry the same way). See README.md beside this file for each one's config.
 *   local        llm         retrieval responder over config.knowledge
 *   local-hash   embeddings  hashed bag of words
 *   espeak       tts         the espeak-ng program
 *   pocketsphinx stt         the PocketSphinx programs (US English)
 */
import { InvalidInputError } from '../../core/errors.js';
import { optionalPositive, optionalString } from '../openai-compatible.js';
import type { BuildableKind, ProviderByKind, ProviderRow } from '../types.js';
import { createLocalHashEmbeddings, DEFAULT_HASH_DIMENSIONS, LOCAL_HASH_MODEL } from './embeddings.js';
import { createEspeakTts } from './espeak.js';
import { createLocalLlm, DEFAULT_MIN_COVERAGE } from './llm.js';
import { createPocketsphinxStt } from './pocketsphinx.js';

type Factories = { [K in BuildableKind]?: (row: ProviderRow, where: string) => ProviderByKind[K] };

const LOCAL_PROVIDERS: Readonly<Record<string, Factories>> = {
  local: { llm: buildLocalLlm },
  'local-hash': { embeddings: buildLocalHash },
  espeak: { tts: buildEspeak },
  pocketsphinx: { stt: buildPocketsphinx },
};

/** True for the provider_names this module builds. */
export function isLocalProviderName(name: string): boolean {
  return Object.hasOwn(LOCAL_PROVIDERS, name);
}

/** Builds a local provider from its row; InvalidInputError naming the row when it cannot work. */
export function createLocalProvider<K extends BuildableKind>(row: ProviderRow, kind: K): ProviderByKind[K] {
  const where = `provider ${row.provider_uuid} (${row.provider_name} ${kind})`;
  const factories = Object.hasOwn(LOCAL_PROVIDERS, row.provider_name)
    ? LOCAL_PROVIDERS[row.provider_name]
    : undefined;
  if (factories === undefined) {
    throw new InvalidInputError(
      `provider ${row.provider_uuid}: unknown provider_name '${row.provider_name}'`,
    );
  }
  const factory = factories[kind];
  if (factory === undefined) {
    const serves = Object.keys(factories).join(', ');
    throw new InvalidInputError(`${where}: '${row.provider_name}' provides ${serves} only`);
  }
  return factory(row, where);
}

function info(row: ProviderRow, kind: BuildableKind, model: string) {
  return { vendor: row.provider_name, kind, model, providerUuid: row.provider_uuid };
}

function buildLocalLlm(row: ProviderRow, where: string): ProviderByKind['llm'] {
  const c = row.config;
  const minCoverage = optionalPositive(c, 'min_coverage', where) ?? DEFAULT_MIN_COVERAGE;
  if (minCoverage > 1) throw new InvalidInputError(`${where}: config.min_coverage must be at most 1`);
  const followUp = c['follow_up'] ?? true;
  if (typeof followUp !== 'boolean')
    throw new InvalidInputError(`${where}: config.follow_up must be a boolean`);
  return createLocalLlm({
    info: info(row, 'llm', optionalString(c, 'model', where) ?? 'bm25'),
    knowledge: optionalString(c, 'knowledge', where) ?? '',
    language: optionalString(c, 'language', where) ?? 'pt-BR',
    minCoverage,
    followUp,
  });
}

function buildLocalHash(row: ProviderRow, where: string): ProviderByKind['embeddings'] {
  const dimensions = optionalPositive(row.config, 'dimensions', where) ?? DEFAULT_HASH_DIMENSIONS;
  if (!Number.isInteger(dimensions) || dimensions > 65_536) {
    throw new InvalidInputError(`${where}: config.dimensions must be a whole number up to 65536`);
  }
  return createLocalHashEmbeddings(info(row, 'embeddings', LOCAL_HASH_MODEL), dimensions);
}

function buildEspeak(row: ProviderRow, where: string): ProviderByKind['tts'] {
  const c = row.config;
  const rateWpm = optionalPositive(c, 'rate', where);
  if (rateWpm !== undefined && (rateWpm < 80 || rateWpm > 450)) {
    throw new InvalidInputError(`${where}: config.rate must be 80 to 450 words per minute`);
  }
  const voice = optionalString(c, 'voice', where);
  if (voice !== undefined && !/^[\w/+-]+$/.test(voice)) {
    throw new InvalidInputError(`${where}: config.voice '${voice}' is not an espeak-ng voice name`);
  }
  return createEspeakTts({
    info: info(row, 'tts', voice ?? 'espeak-ng'),
    language: optionalString(c, 'language', where) ?? 'pt-BR',
    // Never from the row: whoever edits provider rows must not choose a program for the daemon to run.
    command: 'espeak-ng',
    ...(voice === undefined ? {} : { voice }),
    ...(rateWpm === undefined ? {} : { rateWpm }),
  });
}

function buildPocketsphinx(row: ProviderRow, where: string): ProviderByKind['stt'] {
  const c = row.config;
  const hmm = optionalString(c, 'hmm', where);
  const lm = optionalString(c, 'lm', where);
  const dict = optionalString(c, 'dict', where);
  const language = optionalString(c, 'language', where) ?? 'en-US';
  if (hmm === undefined && !language.toLowerCase().startsWith('en')) {
    throw new InvalidInputError(
      `${where}: the stock pocketsphinx model is US English; set config.hmm, lm and dict for ${language}`,
    );
  }
  return createPocketsphinxStt({
    info: info(row, 'stt', hmm === undefined ? 'en-us' : modelName(hmm)),
    language,
    ...(hmm === undefined ? {} : { hmm }),
    ...(lm === undefined ? {} : { lm }),
    ...(dict === undefined ? {} : { dict }),
  });
}

/** The last part of a model path, as the model name in logs and metrics. */
function modelName(p: string): string {
  return p.replace(/\/+$/, '').split('/').pop() ?? p;
}
