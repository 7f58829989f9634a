import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';
import { InvalidInputError } from '../core/errors.js';
import { readTextFile } from './args.js';
import { secretPair } from './resolve.js';

/** The flags every command that stores provider secrets takes (spread into its parseFlags options). */
export const secretFlags = {
  secret: { type: 'string', multiple: true },
  'secret-file': { type: 'string' },
  'secret-stdin': { type: 'boolean' },
} as const;

/** What `secretFlags` parse to. */
export interface SecretFlagValues {
  secret?: string[] | undefined;
  'secret-file'?: string | undefined;
  'secret-stdin'?: boolean | undefined;
}

/** More than any real set of API keys; stdin is read to its end, so a runaway pipe must not fill memory. */
const MAX_SECRET_INPUT_BYTES = 64 * 1024;

/**
 * The secrets given by --secret key=value (argv: every local user sees it in `ps`, hence a warning),
 * --secret-file PATH or --secret-stdin (both: `key=value` lines, blank lines and `#` comments ignored), or
 * undefined when none was given. Values are never echoed, also not in errors.
 */
export async function readSecretFlags(
  values: SecretFlagValues,
  log: Logger,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<Record<string, string> | undefined> {
  const given = [
    values.secret !== undefined && values.secret.length > 0,
    values['secret-file'] !== undefined,
    values['secret-stdin'] === true,
  ].filter(Boolean).length;
  if (given === 0) return undefined;
  if (given > 1) throw new InvalidInputError('use one of --secret, --secret-file, --secret-stdin');
  if (values.secret !== undefined && values.secret.length > 0) {
    const secrets = Object.fromEntries(values.secret.map((v) => secretPair(v, '--secret')));
    log.warn(
      'secret given with --secret: it is visible to every local user in the process list and kept in shell history; use --secret-file PATH or --secret-stdin',
    );
    return secrets;
  }
  const file = values['secret-file'];
  if (file !== undefined) {
    const text = await readTextFile(file, 'secret-file');
    const mode = (await stat(file)).mode;
    if ((mode & 0o077) !== 0) {
      log.warn(
        { file, mode: `0${(mode & 0o777).toString(8)}` },
        'secret file is readable by other users: chmod 600 it',
      );
    }
    return parseSecretLines(text, `--secret-file ${file}`);
  }
  return parseSecretLines(await readAll(stdin), '--secret-stdin');
}

/** `key=value` lines; blank lines and `#` comments skipped; at least one pair. */
export function parseSecretLines(text: string, where: string): Record<string, string> {
  const secrets: Record<string, string> = {};
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [key, value] = secretPair(line, `${where} line ${i + 1}`);
    secrets[key] = value;
  });
  if (Object.keys(secrets).length === 0)
    throw new InvalidInputError(`${where}: no key=value line (e.g. api_key=...)`);
  return secrets;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += b.length;
    if (size > MAX_SECRET_INPUT_BYTES)
      throw new InvalidInputError(`--secret-stdin: more than ${MAX_SECRET_INPUT_BYTES} bytes`);
    chunks.push(b);
  }
  const bytes = Buffer.concat(chunks);
  if (bytes.includes(0)) throw new InvalidInputError('--secret-stdin: input has a NUL byte');
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError('--secret-stdin: input is not valid UTF-8 text');
  }
}
