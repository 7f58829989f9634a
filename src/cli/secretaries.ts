import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import type { Repos } from '../store/repos/index.js';
import { isUuid } from '../store/repos/helpers.js';
import type { SecretaryPatch } from '../store/repos/secretaries.js';
import type { ProcessingMode, ProviderType, SecretaryMedia, SecretaryRow } from '../store/repos/types.js';
import { parseFlags, printTable, readTextFile, runSubcommand } from './args.js';
import {
  intFlag,
  positionals,
  required,
  resolveDomain,
  resolveProvider,
  withRepos,
  type ResolvedDomain,
} from './resolve.js';

export const secretariesHelp = `Usage:
  voice-ai secretaries add --domain D --extension N --name NAME [settings]
  voice-ai secretaries list --domain D [--json]
  voice-ai secretaries update UUID|EXTENSION --domain D [settings] [--enable]
  voice-ai secretaries disable UUID|EXTENSION --domain D

Settings:
  --greeting TEXT --farewell TEXT --system-prompt TEXT | --system-prompt-file PATH
  --language pt-BR --voice NAME --timezone America/Sao_Paulo --mode turn_based|realtime|auto (add: auto)
  --media auto|files|unicast|audio_stream|default   (full-duplex backend; default: the daemon's VOICE_AI_MEDIA)
  --stt P --tts P --llm P --realtime P --embeddings P   (provider uuid or name in the domain; "none" clears)
  --transfer-extension N ("none" clears) --max-turns N --max-silent-turns N --record-max-seconds N
  --silence-threshold N --silence-seconds N --idle-timeout-seconds N --max-call-seconds N
An extension answers to one enabled secretary per domain.`;

type Out = (s: string) => void;

const SETTINGS = {
  domain: { type: 'string' },
  extension: { type: 'string' },
  name: { type: 'string' },
  greeting: { type: 'string' },
  farewell: { type: 'string' },
  'system-prompt': { type: 'string' },
  'system-prompt-file': { type: 'string' },
  language: { type: 'string' },
  voice: { type: 'string' },
  timezone: { type: 'string' },
  mode: { type: 'string' },
  media: { type: 'string' },
  stt: { type: 'string' },
  tts: { type: 'string' },
  llm: { type: 'string' },
  realtime: { type: 'string' },
  embeddings: { type: 'string' },
  'transfer-extension': { type: 'string' },
  'max-turns': { type: 'string' },
  'max-silent-turns': { type: 'string' },
  'record-max-seconds': { type: 'string' },
  'silence-threshold': { type: 'string' },
  'silence-seconds': { type: 'string' },
  'idle-timeout-seconds': { type: 'string' },
  'max-call-seconds': { type: 'string' },
} as const;

type Setting = keyof typeof SETTINGS;
type Values = { [K in Setting]?: string | undefined };

/** The schema's CHECK ranges, so a bad number is named here rather than by a constraint. */
const INT_SETTINGS: readonly [Setting, keyof SecretaryPatch, number, number][] = [
  ['max-turns', 'max_turns', 1, 200],
  ['max-silent-turns', 'max_silent_turns', 1, 20],
  ['record-max-seconds', 'record_max_seconds', 1, 300],
  ['silence-threshold', 'silence_threshold', 1, 10_000],
  ['silence-seconds', 'silence_seconds', 1, 30],
  ['idle-timeout-seconds', 'idle_timeout_seconds', 1, 3600],
  ['max-call-seconds', 'max_call_seconds', 10, 86_400],
];

const PROVIDER_SETTINGS: readonly [Setting & ProviderType, keyof SecretaryPatch][] = [
  ['stt', 'stt_provider_uuid'],
  ['tts', 'tts_provider_uuid'],
  ['llm', 'llm_provider_uuid'],
  ['realtime', 'realtime_provider_uuid'],
  ['embeddings', 'embeddings_provider_uuid'],
];

const MODES: readonly ProcessingMode[] = ['turn_based', 'realtime', 'auto'];
const EXTENSION_RE = /^[0-9*#+]{1,32}$/;

/** `voice-ai secretaries <sub-command>`: returns the exit code. */
export async function runSecretaries(
  argv: string[],
  config: Config,
  _log: Logger,
  out: Out,
): Promise<number> {
  const [sub, ...rest] = argv;
  return runSubcommand(
    sub,
    {
      add: () => add(rest, config, out),
      list: () => list(rest, config, out),
      update: () => update(rest, config, out, false),
      disable: () => update(rest, config, out, true),
    },
    secretariesHelp,
    out,
  );
}

async function add(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, SETTINGS);
  positionals(args, 0, 'voice-ai secretaries add --domain D --extension N --name NAME [settings]');
  required(values.extension, 'extension');
  required(values.name, 'name');
  const row = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const fields = await settingsFrom(values, repos, domain);
    const input = {
      // New secretaries converse full duplex (media from VOICE_AI_MEDIA, `auto` by default), falling back to
      // record + playback on a switch that cannot stream; --mode turn_based keeps them half duplex.
      processing_mode: 'auto' as const,
      ...fields,
      name: fields.name ?? '',
      extension: fields.extension ?? '',
    };
    return explainConflicts(domain, input.extension, () =>
      repos.secretaries.create(domain.domain_uuid, input),
    );
  });
  out(`added secretary "${row.name}" on extension ${row.extension}: ${row.secretary_uuid}`);
  return 0;
}

async function list(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    json: { type: 'boolean' },
  });
  positionals(args, 0, 'voice-ai secretaries list --domain D [--json]');
  const { rows, names } = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const providers = await repos.providers.list(domain.domain_uuid);
    const names = new Map(providers.map((p) => [p.provider_uuid, p.provider_name]));
    return { rows: await repos.secretaries.list(domain.domain_uuid), names };
  });
  if (values.json === true) {
    printTable(rows as unknown as Record<string, unknown>[], true, out);
    return 0;
  }
  const name = (uuid: string | null): string => (uuid === null ? '' : (names.get(uuid) ?? uuid));
  printTable(
    rows.map((s) => ({
      extension: s.extension,
      name: s.name,
      enabled: s.is_enabled,
      mode: s.processing_mode,
      media: s.media ?? '',
      language: s.language,
      stt: name(s.stt_provider_uuid),
      llm: name(s.llm_provider_uuid),
      tts: name(s.tts_provider_uuid),
      transfer: s.transfer_extension,
      uuid: s.secretary_uuid,
    })),
    false,
    out,
  );
  return 0;
}

async function update(argv: string[], config: Config, out: Out, disable: boolean): Promise<number> {
  const { values, positionals: args } = disable
    ? parseFlags(argv, { domain: { type: 'string' } })
    : parseFlags(argv, { ...SETTINGS, enable: { type: 'boolean' } });
  const verb = disable ? 'disable' : 'update';
  const [which] = positionals(args, 1, `voice-ai secretaries ${verb} UUID|EXTENSION --domain D`);
  const { row, changed } = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const current = await resolveSecretary(repos, domain, which ?? '');
    const patch: SecretaryPatch = disable ? { is_enabled: false } : await settingsFrom(values, repos, domain);
    if ('enable' in values && values.enable === true) patch.is_enabled = true;
    if (Object.keys(patch).length === 0)
      throw new InvalidInputError('nothing to update: give at least one setting');
    const extension = patch.extension ?? current.extension;
    const updated = await explainConflicts(domain, extension, () =>
      repos.secretaries.update(domain.domain_uuid, current.secretary_uuid, patch),
    );
    if (updated === undefined) throw new InvalidInputError(`secretary ${current.secretary_uuid} is gone`);
    return { row: updated, changed: !disable || current.is_enabled };
  });
  const what = `secretary "${row.name}" on extension ${row.extension} (${row.secretary_uuid})`;
  out(disable ? (changed ? `disabled ${what}` : `${what} was already disabled`) : `updated ${what}`);
  return 0;
}

/** A secretary by uuid, or by extension: the enabled one there, else the only (disabled) one. */
async function resolveSecretary(repos: Repos, domain: ResolvedDomain, value: string): Promise<SecretaryRow> {
  if (isUuid(value)) {
    const row = await repos.secretaries.findByUuid(domain.domain_uuid, value);
    if (row === undefined) throw new InvalidInputError(`no secretary ${value} in ${domain.domain_name}`);
    return row;
  }
  const rows = (await repos.secretaries.list(domain.domain_uuid)).filter((s) => s.extension === value);
  const pick = rows.find((s) => s.is_enabled) ?? (rows.length === 1 ? rows[0] : undefined);
  if (pick !== undefined) return pick;
  if (rows.length === 0)
    throw new InvalidInputError(`no secretary on extension ${value} in ${domain.domain_name}`);
  throw new InvalidInputError(
    `several disabled secretaries on extension ${value}: use a uuid (${rows.map((s) => s.secretary_uuid).join(', ')})`,
  );
}

/** The settings given on the command line, checked, with provider names resolved to uuids of the domain. */
async function settingsFrom(values: Values, repos: Repos, domain: ResolvedDomain): Promise<SecretaryPatch> {
  const patch: SecretaryPatch = {};
  const text = (flag: Setting): string | undefined => values[flag];
  const orNull = (v: string): string | null => (v === '' || v === 'none' ? null : v);

  if (text('name') !== undefined) patch.name = required(text('name'), 'name');
  const extension = text('extension');
  if (extension !== undefined) patch.extension = checkExtension(extension, 'extension');
  const transfer = text('transfer-extension');
  if (transfer !== undefined) {
    const v = orNull(transfer);
    patch.transfer_extension = v === null ? null : checkExtension(v, 'transfer-extension');
  }
  const greeting = text('greeting');
  if (greeting !== undefined) patch.greeting = greeting;
  const farewell = text('farewell');
  if (farewell !== undefined) patch.farewell = farewell;
  const prompt = await systemPrompt(text('system-prompt'), text('system-prompt-file'));
  if (prompt !== undefined) patch.system_prompt = prompt;
  const language = text('language');
  if (language !== undefined) {
    if (!/^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/.test(language)) {
      throw new InvalidInputError(`--language: expected a language tag such as pt-BR, got "${language}"`);
    }
    patch.language = language;
  }
  const voice = text('voice');
  if (voice !== undefined) patch.voice = orNull(voice);
  const timezone = text('timezone');
  if (timezone !== undefined) patch.timezone = checkTimezone(timezone);
  const mode = text('mode');
  if (mode !== undefined) {
    if (!(MODES as readonly string[]).includes(mode)) {
      throw new InvalidInputError(`--mode: expected one of ${MODES.join(', ')}, got "${mode}"`);
    }
    patch.processing_mode = mode as ProcessingMode;
  }
  const media = text('media');
  if (media !== undefined) {
    const choices = ['auto', 'files', 'unicast', 'audio_stream'] as const;
    if (media !== 'default' && !(choices as readonly string[]).includes(media)) {
      throw new InvalidInputError(
        `--media: expected one of ${choices.join(', ')} or default, got "${media}"`,
      );
    }
    patch.media = media === 'default' ? null : (media as SecretaryMedia);
  }
  for (const [flag, column, min, max] of INT_SETTINGS) {
    const n = intFlag(text(flag), flag, min, max);
    if (n !== undefined) Object.assign(patch, { [column]: n });
  }
  for (const [flag, column] of PROVIDER_SETTINGS) {
    const v = text(flag);
    if (v === undefined) continue;
    const ref = orNull(v);
    const uuid = ref === null ? null : (await resolveProvider(repos, domain, ref, flag)).provider_uuid;
    Object.assign(patch, { [column]: uuid });
  }
  return patch;
}

function checkExtension(value: string, flag: string): string {
  if (!EXTENSION_RE.test(value)) {
    throw new InvalidInputError(`--${flag}: expected 1 to 32 digits (or * # +), got "${value}"`);
  }
  return value;
}

function checkTimezone(value: string): string {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value });
  } catch {
    throw new InvalidInputError(`--timezone: unknown time zone "${value}" (e.g. America/Sao_Paulo)`);
  }
  return value;
}

async function systemPrompt(
  inline: string | undefined,
  file: string | undefined,
): Promise<string | undefined> {
  if (inline !== undefined && file !== undefined) {
    throw new InvalidInputError('--system-prompt and --system-prompt-file exclude each other');
  }
  if (file === undefined) return inline;
  return readTextFile(file, 'system-prompt-file');
}

/** Turns the schema's refusals into one line an operator can act on. */
async function explainConflicts<T>(
  domain: ResolvedDomain,
  extension: string,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err as { code?: unknown; constraint_name?: unknown };
    if (e.code === '23505' && e.constraint_name === 'v_voice_secretaries_enabled_extension_uq') {
      throw new InvalidInputError(
        `extension ${extension} already has an enabled secretary in ${domain.domain_name}`,
      );
    }
    if (e.code === '23514') {
      throw new InvalidInputError(`a setting is out of range (${String(e.constraint_name)})`);
    }
    throw err;
  }
}
