/**
 * What the operator commands share: turning the names an operator types (a domain name, a provider name, a
 * number) into checked values, and one short-lived pool per command. Every problem is one InvalidInputError
 * (exit 2) whose message fits on one line.
 */
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import { isLocalProviderName } from '../providers/local/index.js';
import { OPENAI_COMPATIBLE, openAiCompatible } from '../providers/openai-compatible.js';
import { createPool, type Sql } from '../store/db.js';
import { createRepos, type Repos } from '../store/repos/index.js';
import { isUuid } from '../store/repos/helpers.js';
import {
  PROVIDER_TYPES,
  type DomainRow,
  type JsonObject,
  type ProviderRow,
  type ProviderType,
} from '../store/repos/types.js';

/** Engines that run on this machine (src/providers/local); listed for messages, checked by that module. */
const LOCAL_PROVIDER_NAMES = ['local', 'local-hash', 'espeak', 'pocketsphinx'] as const;

/** The provider_names to suggest: every OpenAI-compatible vendor and the local engines. */
export const KNOWN_PROVIDER_NAMES: readonly string[] = [
  ...Object.keys(OPENAI_COMPATIBLE),
  ...LOCAL_PROVIDER_NAMES.filter(isLocalProviderName),
];

/** True for a provider_name the registry can build (asks the provider modules themselves). */
export function isKnownProviderName(name: string): boolean {
  return openAiCompatible(name) !== undefined || isLocalProviderName(name);
}

/** A domain the operator named by domain_name (case-insensitive) or domain_uuid. */
export interface ResolvedDomain {
  domain_uuid: string;
  domain_name: string;
  domain_enabled: boolean | null;
}

/** Runs `fn` with the repositories on a small pool that is always closed afterwards. */
export async function withRepos<T>(
  config: Config,
  fn: (repos: Repos, sql: Sql) => Promise<T>,
  opts: { connectTimeoutSeconds?: number } = {},
): Promise<T> {
  const sql = createPool({
    url: config.databaseUrl ?? '',
    max: 2,
    connectTimeoutSeconds: opts.connectTimeoutSeconds ?? config.db.connectTimeoutSeconds,
    statementTimeoutMs: config.db.statementTimeoutMs,
    applicationName: 'voice-ai-cli',
  });
  try {
    return await fn(createRepos(sql), sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The value of a required flag; InvalidInputError naming the flag when it is missing or empty. */
export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.trim() === '') throw new InvalidInputError(`--${flag} is required`);
  return value.trim();
}

/** Resolves --domain (name or uuid) to a domain row. */
export async function resolveDomain(repos: Repos, value: string | undefined): Promise<ResolvedDomain> {
  const wanted = required(value, 'domain');
  const row: DomainRow | undefined = isUuid(wanted)
    ? await repos.domains.findByUuid(wanted)
    : await repos.domains.findByName(wanted);
  if (row === undefined) throw new InvalidInputError(`unknown domain "${wanted}"`);
  return { ...row, domain_name: row.domain_name ?? row.domain_uuid };
}

/**
 * A provider of the domain, by provider_uuid or by provider_name (of `type` when given). A name shared by
 * several rows resolves to the default one, else it is ambiguous and the message lists the uuids to pick from.
 */
export async function resolveProvider(
  repos: Repos,
  domain: ResolvedDomain,
  value: string,
  type?: ProviderType,
): Promise<ProviderRow> {
  const kind = type === undefined ? 'provider' : `${type} provider`;
  if (isUuid(value)) {
    const row = await repos.providers.findByUuid(domain.domain_uuid, value);
    if (row === undefined) throw new InvalidInputError(`no provider ${value} in ${domain.domain_name}`);
    if (type !== undefined && row.provider_type !== type) {
      throw new InvalidInputError(`provider ${value} is a ${row.provider_type} provider, not ${type}`);
    }
    return row;
  }
  const rows = (await repos.providers.list(domain.domain_uuid, type === undefined ? {} : { type })).filter(
    (r) => r.provider_name === value,
  );
  const pick = rows.length === 1 ? rows[0] : rows.find((r) => r.is_default);
  if (pick !== undefined) return pick;
  if (rows.length === 0) throw new InvalidInputError(`no ${kind} named "${value}" in ${domain.domain_name}`);
  throw new InvalidInputError(
    `several ${kind}s are named "${value}" in ${domain.domain_name}: use a uuid (${rows.map((r) => r.provider_uuid).join(', ')})`,
  );
}

/** A uuid positional argument; InvalidInputError naming what it should identify. */
export function requireUuid(value: string | undefined, what: string): string {
  if (value === undefined) throw new InvalidInputError(`missing the ${what} uuid`);
  if (!isUuid(value)) throw new InvalidInputError(`not a ${what} uuid: "${value}"`);
  return value;
}

/** An integer flag within [min, max]; undefined when the flag is absent. */
export function intFlag(
  value: string | undefined,
  flag: string,
  min: number,
  max: number,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new InvalidInputError(`--${flag}: expected an integer between ${min} and ${max}, got "${value}"`);
  }
  return n;
}

/** A --type flag. */
export function providerType(value: string | undefined): ProviderType | undefined {
  if (value === undefined) return undefined;
  if (!(PROVIDER_TYPES as readonly string[]).includes(value)) {
    throw new InvalidInputError(`--type: expected one of ${PROVIDER_TYPES.join(', ')}, got "${value}"`);
  }
  return value as ProviderType;
}

/** A JSON object flag (--config). */
export function jsonObjectFlag(value: string | undefined, flag: string): JsonObject | undefined {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new InvalidInputError(`--${flag}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidInputError(`--${flag}: expected a JSON object such as '{"model":"gpt-4o-mini"}'`);
  }
  return parsed as JsonObject;
}

/** Repeated `--secret key=value` flags as one object; undefined when none were given. */
/**
 * One `key=value` secret; `where` names the flag (and line) in errors. Never echoes the value: it is a
 * secret, possibly mistyped.
 */
export function secretPair(v: string, where: string): [key: string, value: string] {
  const eq = v.indexOf('=');
  const key = eq < 0 ? '' : v.slice(0, eq).trim();
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(key)) {
    throw new InvalidInputError(`${where}: expected key=value with a key such as api_key`);
  }
  if (eq === v.length - 1) throw new InvalidInputError(`${where} ${key}: the value is empty`);
  return [key, v.slice(eq + 1)];
}

/** Positional arguments after the sub-command must be exactly `count`. */
export function positionals(list: readonly string[], count: number, usage: string): string[] {
  if (list.length !== count) throw new InvalidInputError(`usage: ${usage}`);
  return [...list];
}
