import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import { createLocalProvider, isLocalProviderName } from '../providers/local/index.js';
import { shutdownOf } from '../providers/model-shutdowns.js';
import { createOpenAiAdapter } from '../providers/registry.js';
import { openAiCompatible, openAiConfigFromRow } from '../providers/openai-compatible.js';
import { rotateKey } from '../store/secrets.js';
import type { JsonObject, ProviderType } from '../store/repos/types.js';
import { parseFlags, printTable, runSubcommand } from './args.js';
import { shutdownWarnings } from './model-shutdowns.js';
import { readSecretFlags, secretFlags } from './secret-input.js';
import { formatProbe, probeProvider } from './provider-probe.js';
import {
  KNOWN_PROVIDER_NAMES,
  intFlag,
  isKnownProviderName,
  jsonObjectFlag,
  positionals,
  providerType,
  required,
  requireUuid,
  resolveDomain,
  resolveProvider,
  withRepos,
} from './resolve.js';

export const providersHelp = `Usage:
  voice-ai providers add --domain D --type T --name NAME [--config JSON]
                         [--secret-file PATH | --secret-stdin | --secret key=value ...]
                         [--default] [--priority N] [--disabled]
  voice-ai providers list --domain D [--type T] [--json]
  voice-ai providers update UUID --domain D [--config JSON]
                         [--secret-file PATH | --secret-stdin | --secret key=value ...]
                         [--default] [--priority N] [--enable | --disable]
  voice-ai providers remove UUID --domain D
  voice-ai providers test UUID|NAME --domain D [--type T] [--timeout-ms N]
  voice-ai providers rotate-key --new-key-file PATH

D is a domain name or uuid; T one of stt, tts, llm, embeddings, realtime; NAME one of
${KNOWN_PROVIDER_NAMES.join(', ')}.
--config is the non-secret settings as a JSON object (model, base_url, voice, language, timeout_ms, ...);
Secrets (api_key, ...) come from --secret-file PATH (a chmod 600 file of key=value lines; blank lines and
# comments skipped) or --secret-stdin (the same lines on stdin, e.g. printf 'api_key=%s\n' "$KEY" | ...);
--secret key=value also works but puts the value in the process list for every local user to see, and warns.
They are encrypted with VOICE_AI_ENCRYPTION_KEY and never shown again: list says only has_secrets. list shows the shutdown date of a model its vendor has announced for shutdown, and ends
with one warning line per such row. Secrets on update replace all the provider's secrets.
test sends one tiny real request (STT: one second of audio; LLM: one token; TTS: one word; embeddings: one
word), prints OK or FAIL with the latency, and exits 1 on failure.
rotate-key re-encrypts every domain's secrets from the configured key to the key in PATH, in one transaction;
then set VOICE_AI_ENCRYPTION_KEY to the new key and restart the daemons.`;

type Out = (s: string) => void;

/** `voice-ai providers <sub-command>`: returns the exit code. */
export async function runProviders(
  argv: string[],
  config: Config,
  log: Logger,
  out: Out,
  deps: { now?: () => Date } = {},
): Promise<number> {
  const [sub, ...rest] = argv;
  // --help and -h never get here: cli() prints every command's help before dispatching.
  return runSubcommand(
    sub,
    {
      add: () => add(rest, config, log, out),
      list: () => list(rest, config, out, deps.now?.() ?? new Date()),
      update: () => update(rest, config, log, out),
      remove: () => remove(rest, config, out),
      test: () => test(rest, config, log, out),
      'rotate-key': () => rotate(rest, config, out),
    },
    providersHelp,
    out,
  );
}

async function add(argv: string[], config: Config, log: Logger, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    type: { type: 'string' },
    name: { type: 'string' },
    config: { type: 'string' },
    ...secretFlags,
    default: { type: 'boolean' },
    priority: { type: 'string' },
    disabled: { type: 'boolean' },
  });
  positionals(args, 0, 'voice-ai providers add --domain D --type T --name NAME ...');
  const type = providerType(required(values.type, 'type'));
  const name = required(values.name, 'name');
  if (!isKnownProviderName(name)) {
    throw new InvalidInputError(
      `unknown provider name "${name}" (known: ${KNOWN_PROVIDER_NAMES.join(', ')})`,
    );
  }
  if (type === undefined) throw new InvalidInputError('--type is required');
  const providerConfig = jsonObjectFlag(values.config, 'config') ?? {};
  const secrets = await readSecretFlags(values, log);
  const priority = intFlag(values.priority, 'priority', -1_000_000, 1_000_000);
  checkAdapterConfig(name, type, providerConfig, secrets !== undefined ? 'api_key' in secrets : false);
  const key = secrets === undefined ? undefined : requireEncryptionKey(config, 'store provider secrets');
  const row = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const created = await repos.providers.create(
      domain.domain_uuid,
      {
        provider_type: type,
        provider_name: name,
        config: providerConfig,
        ...(secrets === undefined ? {} : { secrets }),
        ...(values.default === true ? { is_default: true } : {}),
        ...(values.disabled === true ? { is_enabled: false } : {}),
        ...(priority === undefined ? {} : { priority }),
      },
      key,
    );
    return { ...created, domain_name: domain.domain_name };
  });
  out(`added ${row.provider_type} provider ${row.provider_name} ${row.provider_uuid} in ${row.domain_name}`);
  return 0;
}

async function list(argv: string[], config: Config, out: Out, now: Date): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    type: { type: 'string' },
    json: { type: 'boolean' },
  });
  positionals(args, 0, 'voice-ai providers list --domain D [--type T] [--json]');
  const type = providerType(values.type);
  const rows = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    return repos.providers.list(domain.domain_uuid, type === undefined ? {} : { type });
  });
  const json = values.json === true;
  // ProviderRow carries no secrets at all (the repository selects only `secrets IS NOT NULL`).
  printTable(
    rows.map((r) => ({
      provider_uuid: r.provider_uuid,
      type: r.provider_type,
      name: r.provider_name,
      default: r.is_default,
      enabled: r.is_enabled,
      priority: r.priority,
      has_secrets: r.has_secrets,
      shutdown: shutdownOf(r, now)?.shutdown.date ?? (json ? null : ''),
      config: json ? r.config : JSON.stringify(r.config),
    })),
    json,
    out,
  );
  // After the table, where a script reading --json never sees them.
  if (!json) for (const line of shutdownWarnings(rows, now)) out(line);
  return 0;
}

async function update(argv: string[], config: Config, log: Logger, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    config: { type: 'string' },
    ...secretFlags,
    default: { type: 'boolean' },
    priority: { type: 'string' },
    enable: { type: 'boolean' },
    disable: { type: 'boolean' },
  });
  const [uuidArg] = positionals(args, 1, 'voice-ai providers update UUID --domain D [...]');
  const providerUuid = requireUuid(uuidArg, 'provider');
  if (values.enable === true && values.disable === true) {
    throw new InvalidInputError('--enable and --disable exclude each other');
  }
  const providerConfig = jsonObjectFlag(values.config, 'config');
  const secrets = await readSecretFlags(values, log);
  const priority = intFlag(values.priority, 'priority', -1_000_000, 1_000_000);
  const patch = {
    ...(providerConfig === undefined ? {} : { config: providerConfig }),
    ...(secrets === undefined ? {} : { secrets }),
    ...(values.default === true ? { is_default: true } : {}),
    ...(priority === undefined ? {} : { priority }),
    ...(values.enable === true ? { is_enabled: true } : {}),
    ...(values.disable === true ? { is_enabled: false } : {}),
  };
  if (Object.keys(patch).length === 0)
    throw new InvalidInputError('nothing to update: give at least one flag');
  const key = secrets === undefined ? undefined : requireEncryptionKey(config, 'store provider secrets');
  const row = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const current = await resolveProvider(repos, domain, providerUuid);
    // Only a change of what the adapter is built from is checked: disabling a broken row must stay possible.
    if (providerConfig !== undefined || secrets !== undefined) {
      const hasKey = secrets === undefined ? current.has_secrets : 'api_key' in secrets;
      checkAdapterConfig(
        current.provider_name,
        current.provider_type,
        providerConfig ?? current.config,
        hasKey,
      );
    }
    return repos.providers.update(domain.domain_uuid, providerUuid, patch, key);
  });
  if (row === undefined) throw new InvalidInputError(`provider ${providerUuid} is gone`);
  out(`updated ${row.provider_type} provider ${row.provider_name} ${row.provider_uuid}`);
  return 0;
}

async function remove(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, { domain: { type: 'string' } });
  const [uuidArg] = positionals(args, 1, 'voice-ai providers remove UUID --domain D');
  const providerUuid = requireUuid(uuidArg, 'provider');
  const removed = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const row = await resolveProvider(repos, domain, providerUuid);
    // Secretaries pointing at it fall back to the domain's other providers (the foreign key sets NULL).
    await repos.providers.remove(domain.domain_uuid, providerUuid);
    return row;
  });
  out(`removed ${removed.provider_type} provider ${removed.provider_name} ${removed.provider_uuid}`);
  return 0;
}

async function test(argv: string[], config: Config, log: Logger, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    type: { type: 'string' },
    'timeout-ms': { type: 'string' },
  });
  const [which] = positionals(args, 1, 'voice-ai providers test UUID|NAME --domain D');
  const type = providerType(values.type);
  const timeoutMs = intFlag(values['timeout-ms'], 'timeout-ms', 100, 600_000) ?? 20_000;
  const row = await withRepos(config, async (repos) => {
    const domain = await resolveDomain(repos, values.domain);
    const found = await resolveProvider(repos, domain, which ?? '', type);
    // Missing or wrong key: a SecretKeyError naming the row (exit 1).
    return repos.providers.getWithSecrets(
      domain.domain_uuid,
      found.provider_uuid,
      config.encryptionKey ?? '',
    );
  });
  if (row === undefined) throw new InvalidInputError(`provider ${which ?? ''} is gone`);
  const result = await probeProvider(row, { log, timeoutMs });
  out(formatProbe(row, result));
  return result.status === 'fail' ? 1 : 0;
}

async function rotate(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, { 'new-key-file': { type: 'string' } });
  positionals(args, 0, 'voice-ai providers rotate-key --new-key-file PATH');
  const file = required(values['new-key-file'], 'new-key-file');
  const oldKey = requireEncryptionKey(config, 'rotate the key (it is the old key)');
  let newKey: string;
  try {
    newKey = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new InvalidInputError(
      `--new-key-file: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  if (newKey.length < 16)
    throw new InvalidInputError('--new-key-file: the key must be at least 16 characters');
  if (newKey === oldKey) throw new InvalidInputError('--new-key-file: the new key is the current key');
  const count = await withRepos(config, (_repos, sql) => rotateKey(sql, oldKey, newKey));
  out(
    `re-encrypted the secrets of ${count} provider(s); now set VOICE_AI_ENCRYPTION_KEY to the new key and restart the daemons`,
  );
  return 0;
}

function requireEncryptionKey(config: Config, purpose: string): string {
  if (config.encryptionKey === undefined) {
    throw new InvalidInputError(
      `VOICE_AI_ENCRYPTION_KEY (or VOICE_AI_ENCRYPTION_KEY_FILE) is required to ${purpose}`,
    );
  }
  return config.encryptionKey;
}

/**
 * Refuses what the daemon could not build later: a hosted vendor without its api_key, a local server without
 * a model, a base_url that is not http(s), a local engine asked for a kind it does not provide. Building an
 * adapter only validates (no request, no process), so the registry's own modules do the checking.
 */
function checkAdapterConfig(name: string, type: ProviderType, config: JsonObject, hasApiKey: boolean): void {
  const vendor = openAiCompatible(name);
  if (vendor?.requiresKey === true && !hasApiKey) {
    throw new InvalidInputError(
      `provider ${name} needs its API key: add --secret-file PATH with an api_key=... line`,
    );
  }
  if (type === 'realtime') {
    if (isLocalProviderName(name))
      throw new InvalidInputError(`${name} is a local engine: it has no realtime mode`);
    return;
  }
  const row = {
    provider_uuid: 'new',
    domain_uuid: '',
    provider_type: type,
    provider_name: name,
    config,
    // Only whether a key is there matters to the check; the real one never comes near it.
    secrets: hasApiKey ? { api_key: 'present' } : null,
    is_default: false,
    priority: 0,
  };
  if (isLocalProviderName(name)) createLocalProvider(row, type);
  else if (vendor !== undefined) createOpenAiAdapter(type, openAiConfigFromRow(row, type, globalThis.fetch));
}
