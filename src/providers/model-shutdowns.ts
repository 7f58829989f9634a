import { openAiDefaultModel } from './openai-compatible.js';

/** A model its vendor has announced it will switch off, and what to move to. */
export interface ModelShutdown {
  /** The provider_name it applies to: an imitator (LocalAI, vLLM) may serve any name forever. */
  readonly vendor: string;
  readonly model: string;
  /** YYYY-MM-DD (UTC): from this day on the vendor refuses the model. */
  readonly date: string;
  readonly replacement: string;
  /** Where the date comes from, for the operator who wants to check it. */
  readonly source: string;
}

const SDK = 'openai npm 7.55.0 types ("Deprecated values")';
// Chat models: the SDK types carry no dates for them; these are OpenAI's deprecations page as third parties
// copied it (several agree), so they are worth a warning and a check before trusting them further.
const PAGE = 'OpenAI deprecations page (secondary reports)';
const SPEECH = 'speech through Realtime: gpt-realtime-2.1-mini';

const TABLE: readonly [date: string, replacement: string, source: string, models: readonly string[]][] = [
  [
    '2026-10-23',
    'gpt-5.4-mini',
    PAGE,
    [
      'gpt-3.5-turbo',
      'gpt-3.5-turbo-0125',
      'gpt-4',
      'gpt-4-0613',
      'gpt-4-turbo',
      'gpt-4-turbo-2024-04-09',
      'gpt-4.1-nano',
      'gpt-4.1-nano-2025-04-14',
      'o1',
      'o3-mini',
      'o4-mini',
    ],
  ],
  [
    '2026-12-11',
    'gpt-5.4-mini',
    PAGE,
    [
      'gpt-5',
      'gpt-5-2025-08-07',
      'gpt-5-mini',
      'gpt-5-mini-2025-08-07',
      'gpt-5-nano',
      'gpt-5-nano-2025-08-07',
    ],
  ],
  ['2027-01-06', SPEECH, SDK, ['tts-1', 'tts-1-hd', 'gpt-4o-mini-tts', 'gpt-4o-mini-tts-2025-12-15']],
  [
    '2027-01-14',
    'gpt-5.4-mini',
    PAGE,
    [
      'gpt-4o',
      'gpt-4o-2024-08-06',
      'gpt-4o-2024-11-20',
      'gpt-4o-mini',
      'gpt-4o-mini-2024-07-18',
      'gpt-4.1',
      'gpt-4.1-2025-04-14',
      'gpt-4.1-mini',
      'gpt-4.1-mini-2025-04-14',
    ],
  ],
  [
    '2027-01-20',
    'gpt-realtime-2.1-mini',
    SDK,
    [
      'gpt-realtime',
      'gpt-realtime-2025-08-28',
      'gpt-realtime-mini',
      'gpt-realtime-mini-2025-12-15',
      'gpt-audio-mini',
      'gpt-audio-mini-2025-12-15',
    ],
  ],
  [
    '2027-02-26',
    'gpt-transcribe',
    SDK,
    [
      'whisper-1',
      'gpt-4o-transcribe',
      'gpt-4o-mini-transcribe',
      'gpt-4o-mini-transcribe-2025-12-15',
      'gpt-4o-transcribe-diarize',
    ],
  ],
];

/** Every known shutdown, one entry per model id. */
export const MODEL_SHUTDOWNS: readonly ModelShutdown[] = TABLE.flatMap(
  ([date, replacement, source, models]) =>
    models.map((model) => ({ vendor: 'openai', model, date, replacement, source })),
);

const BY_KEY = new Map(MODEL_SHUTDOWNS.map((s) => [`${s.vendor}\n${s.model}`, s]));

/** The announced shutdown of `model` at `vendor`, if any; ids compare case-insensitively. */
export function findShutdown(vendor: string, model: string): ModelShutdown | undefined {
  return BY_KEY.get(`${vendor}\n${model.trim().toLowerCase()}`);
}

/** What a provider row needs for the check: the columns every listing already has. */
export interface ShutdownRow {
  provider_type: string;
  provider_name: string;
  config: Readonly<Record<string, unknown>>;
}

export interface ShutdownFinding {
  readonly shutdown: ModelShutdown;
  /** The model the row runs: config.model, or the adapter's default when it names none. */
  readonly model: string;
  /** True from the shutdown day on: the row no longer works. */
  readonly past: boolean;
}

/** The shutdown that concerns `row` on `now`'s UTC day, or undefined when its model has none announced. */
export function shutdownOf(row: ShutdownRow, now: Date): ShutdownFinding | undefined {
  const configured = row.config['model'];
  const model =
    typeof configured === 'string' && configured.trim() !== ''
      ? configured
      : row.provider_name === 'openai'
        ? openAiDefaultModel(row.provider_type)
        : undefined;
  if (model === undefined) return undefined;
  const shutdown = findShutdown(row.provider_name, model);
  if (shutdown === undefined) return undefined;
  return { shutdown, model, past: now.toISOString().slice(0, 10) >= shutdown.date };
}

/** `tts openai tts-1 <uuid> shuts down on 2027-01-06 (source); move to ...`: one line for doctor and list. */
export function describeShutdown(row: ShutdownRow & { provider_uuid?: string }, f: ShutdownFinding): string {
  const when = f.past ? `was shut down on ${f.shutdown.date}` : `shuts down on ${f.shutdown.date}`;
  const uuid = row.provider_uuid === undefined ? '' : ` ${row.provider_uuid}`;
  return (
    `${row.provider_type} ${row.provider_name} ${f.model}${uuid} ${when} (${f.shutdown.source}); ` +
    `move to ${f.shutdown.replacement}`
  );
}
