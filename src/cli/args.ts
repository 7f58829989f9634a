import { readFile } from 'node:fs/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidInputError } from '../core/errors.js';
import { terminalSafeLine } from './terminal.js';

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a sub-command's flags strictly; unknown flags are one clear InvalidInputError, and so is a NUL
 * character in any value (PostgreSQL text cannot hold one: it would be a raw 22021 from the database).
 */
export function parseFlags<O extends Options>(argv: string[], options: O) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    });
  } catch (err) {
    throw new InvalidInputError((err as Error).message);
  }
  for (const [flag, value] of Object.entries(parsed.values)) {
    for (const v of Array.isArray(value) ? (value as unknown[]) : [value]) {
      if (typeof v === 'string' && v.includes('\0'))
        throw new InvalidInputError(`--${flag}: contains a NUL character`);
    }
  }
  if (parsed.positionals.some((p) => p.includes('\0')))
    throw new InvalidInputError('an argument contains a NUL character');
  return parsed;
}

/**
 * A text file given to a flag, as a string fit for a text column: valid UTF-8 (a byte-order mark is dropped)
 * without NUL bytes; anything else is an InvalidInputError naming the flag and the file.
 */
export async function readTextFile(file: string, flag: string): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new InvalidInputError(`--${flag}: cannot read ${file}: ${code}`);
  }
  const nul = bytes.indexOf(0);
  if (nul >= 0) {
    throw new InvalidInputError(`--${flag}: ${file} has a NUL byte at offset ${nul}; expected UTF-8 text`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InvalidInputError(`--${flag}: ${file} is not valid UTF-8 text`);
  }
}

/**
 * Runs the handler named by `sub`: no sub-command prints `help` and is exit 2; an unknown one is an
 * InvalidInputError naming the known ones, in the order given.
 */
export function runSubcommand(
  sub: string | undefined,
  handlers: Record<string, () => Promise<number>>,
  help: string,
  out: (s: string) => void,
): Promise<number> {
  if (sub === undefined) {
    out(help);
    return Promise.resolve(2);
  }
  const handler = Object.hasOwn(handlers, sub) ? handlers[sub] : undefined;
  if (handler === undefined) {
    throw new InvalidInputError(
      `unknown sub-command "${sub}" (expected: ${Object.keys(handlers).join(', ')})`,
    );
  }
  return handler();
}

/** Prints rows as an aligned table (or JSON with --json). */
export function printTable(rows: Record<string, unknown>[], json: boolean, out: (s: string) => void): void {
  if (json) {
    out(JSON.stringify(rows, null, 2));
    return;
  }
  if (rows.length === 0) {
    out('(none)');
    return;
  }
  const cols = Object.keys(rows[0] ?? {});
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (v instanceof Date) return v.toISOString();
    // Escaped here, not only when written, so the widths are those of what the terminal shows.
    if (typeof v === 'string') return terminalSafeLine(v);
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return v.toString();
    return terminalSafeLine(JSON.stringify(v));
  };

  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]): string =>
    vals
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  out(line(cols));
  out(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) out(line(cols.map((c) => cell(r[c]))));
}
