/** Provider rows and adapter configs pointing at a fake OpenAI server, and a logger whose lines tests read. */
import { randomUUID } from 'node:crypto';
import { pino, type Logger } from 'pino';
import { openAiConfigFromRow, type OpenAiConfig } from '../../src/providers/openai-compatible.js';
import type { BuildableKind, ProviderRow } from '../../src/providers/types.js';

export const FAKE_API_KEY = 'sk-test-FAKEKEY0123456789abcdef';

const DEFAULT_MODELS: Record<BuildableKind, string> = {
  stt: 'whisper-1',
  llm: 'gpt-4o-mini',
  tts: 'tts-1',
  embeddings: 'text-embedding-3-small',
};

export interface RowOverrides {
  provider_name?: string;
  config?: Record<string, unknown>;
  secrets?: Record<string, string> | null;
  is_default?: boolean;
  is_enabled?: boolean;
  priority?: number;
  provider_uuid?: string;
}

/** An enabled row of `kind` for `baseUrl` (the fake's), with the fake key and the kind's usual model. */
export function fakeRow(baseUrl: string, kind: BuildableKind, over: RowOverrides = {}): ProviderRow {
  return {
    provider_uuid: over.provider_uuid ?? randomUUID(),
    domain_uuid: '00000000-0000-4000-8000-000000000001',
    provider_type: kind,
    provider_name: over.provider_name ?? 'openai',
    config: { base_url: baseUrl, model: DEFAULT_MODELS[kind], ...over.config },
    secrets: over.secrets === undefined ? { api_key: FAKE_API_KEY } : over.secrets,
    is_default: over.is_default ?? false,
    ...(over.is_enabled === undefined ? {} : { is_enabled: over.is_enabled }),
    priority: over.priority ?? 100,
  };
}

export function fakeConfig(baseUrl: string, kind: BuildableKind, over: RowOverrides = {}): OpenAiConfig {
  return openAiConfigFromRow(fakeRow(baseUrl, kind, over), kind, globalThis.fetch);
}

/** A pino logger writing parsed JSON lines into `lines`. */
export function captureLog(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}
