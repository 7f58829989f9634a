import { InvalidInputError } from '../core/errors.js';
import type { FetchFn } from './transport/http.js';
import type { BuildableKind, ProviderInfo, ProviderRow } from './types.js';

/**
 * The vendors that speak OpenAI's HTTP API, and what differs between them. Local servers need no key;
 * hosted ones do. Only OpenAI itself gets default models: the others' catalogues change too often.
 */
export const OPENAI_COMPATIBLE: Readonly<Record<string, { baseUrl: string; requiresKey: boolean }>> = {
  openai: { baseUrl: 'https://api.openai.com/v1', requiresKey: true },
  groq: { baseUrl: 'https://api.groq.com/openai/v1', requiresKey: true },
  ollama: { baseUrl: 'http://127.0.0.1:11434/v1', requiresKey: false },
  lmstudio: { baseUrl: 'http://127.0.0.1:1234/v1', requiresKey: false },
  vllm: { baseUrl: 'http://127.0.0.1:8000/v1', requiresKey: false },
  localai: { baseUrl: 'http://127.0.0.1:8080/v1', requiresKey: false },
};

/** The vendor entry for `name`; undefined for anything else ("constructor" included: own keys only). */
export function openAiCompatible(name: string): { baseUrl: string; requiresKey: boolean } | undefined {
  return Object.hasOwn(OPENAI_COMPATIBLE, name) ? OPENAI_COMPATIBLE[name] : undefined;
}

/**
 * OpenAI's models for a row that names none; none of them has an announced shutdown (model-shutdowns.ts).
 * Keep sql/010_default_models.sql, which seeds new domains, in step. TTS goes through the Realtime API:
 * every /audio/speech model shuts down on 2027-01-06 and OpenAI points speech there.
 */
export const OPENAI_DEFAULT_MODELS: Readonly<Record<BuildableKind, string>> = {
  stt: 'gpt-transcribe',
  llm: 'gpt-5.4-mini',
  tts: 'gpt-realtime-2.1-mini',
  embeddings: 'text-embedding-3-small',
};

/** The model an `openai` row of `kind` runs when its config names none; undefined for realtime and the rest. */
export function openAiDefaultModel(kind: string): string | undefined {
  return Object.hasOwn(OPENAI_DEFAULT_MODELS, kind)
    ? OPENAI_DEFAULT_MODELS[kind as BuildableKind]
    : undefined;
}

/** What an OpenAI-compatible adapter needs; built from a row by `openAiConfigFromRow`. */
export interface OpenAiConfig {
  info: ProviderInfo;
  /** No trailing slash: `${baseUrl}/chat/completions`. */
  baseUrl: string;
  apiKey?: string;
  voice?: string;
  language?: string;
  /** Row config as given, for kind-specific settings (dimensions, sample_rate_hz, speed, instructions). */
  extra: Readonly<Record<string, unknown>>;
  fetch: FetchFn;
}

/** Validates a row and resolves defaults; InvalidInputError naming the row when it cannot work. */
export function openAiConfigFromRow(row: ProviderRow, kind: BuildableKind, fetchFn: FetchFn): OpenAiConfig {
  const vendor = row.provider_name;
  const defaults = openAiCompatible(vendor);
  const where = `provider ${row.provider_uuid} (${vendor} ${kind})`;
  if (!defaults) throw new InvalidInputError(`${where}: unknown provider_name`);
  const c = row.config;
  const baseUrl = optionalString(c, 'base_url', where) ?? defaults.baseUrl;
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new InvalidInputError(`${where}: base_url is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidInputError(`${where}: base_url must be http or https`);
  }
  const apiKey = row.secrets?.['api_key'];
  if (defaults.requiresKey && (apiKey === undefined || apiKey === '')) {
    throw new InvalidInputError(`${where}: secret api_key is missing`);
  }
  const model =
    optionalString(c, 'model', where) ?? (vendor === 'openai' ? OPENAI_DEFAULT_MODELS[kind] : undefined);
  if (model === undefined) throw new InvalidInputError(`${where}: config.model is required`);
  const voice = optionalString(c, 'voice', where);
  const language = optionalString(c, 'language', where);
  return {
    info: { vendor, kind, model, providerUuid: row.provider_uuid },
    baseUrl: baseUrl.replace(/\/+$/, ''),
    ...(apiKey ? { apiKey } : {}),
    ...(voice === undefined ? {} : { voice }),
    ...(language === undefined ? {} : { language }),
    extra: c,
    fetch: fetchFn,
  };
}

/** Request headers; the key goes only here, never into a message or a log. */
export function openAiHeaders(config: OpenAiConfig, contentType?: string): Record<string, string> {
  return {
    ...(contentType === undefined ? {} : { 'content-type': contentType }),
    ...(config.apiKey === undefined ? {} : { authorization: `Bearer ${config.apiKey}` }),
  };
}

export function secretsOf(config: OpenAiConfig): readonly string[] {
  return config.apiKey === undefined ? [] : [config.apiKey];
}

/** 'pt-BR' → 'pt': OpenAI wants ISO-639-1. Undefined for empty input. */
export function isoLanguage(language: string | undefined): string | undefined {
  const primary = language?.trim().split(/[-_]/)[0]?.toLowerCase();
  return primary ? primary : undefined;
}

/** A positive number from config, or undefined; InvalidInputError when it is there but not one. */
export function optionalPositive(c: Readonly<Record<string, unknown>>, key: string, where: string) {
  const v = c[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidInputError(`${where}: config.${key} must be a positive number`);
  }
  return v;
}

/** A non-empty string from config, or undefined; InvalidInputError when it is there but not a string. */
export function optionalString(
  c: Readonly<Record<string, unknown>>,
  key: string,
  where: string,
): string | undefined {
  const v = c[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new InvalidInputError(`${where}: config.${key} must be a string`);
  return v;
}
