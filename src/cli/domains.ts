import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import { parseFlags, printTable } from './args.js';
import { positionals, withRepos } from './resolve.js';

export const domainsHelp = `Usage: voice-ai domains list [--json]

Lists FusionPBX's domains (tenants): uuid, name, enabled. Every other command takes --domain as
either the name or the uuid shown here.`;

/** `voice-ai domains list`: returns the exit code. */
export async function runDomains(
  argv: string[],
  config: Config,
  _log: Logger,
  out: (s: string) => void,
): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, { json: { type: 'boolean' } });
  if (values.help) {
    out(domainsHelp);
    return 0;
  }
  const [sub] = positionals(args, 1, 'voice-ai domains list [--json]');
  if (sub !== 'list') throw new InvalidInputError(`unknown sub-command "${sub}" (expected: list)`);
  const rows = await withRepos(config, (repos) => repos.domains.list());
  printTable(
    rows.map((r) => ({ domain_uuid: r.domain_uuid, domain_name: r.domain_name, enabled: r.domain_enabled })),
    values.json === true,
    out,
  );
  return 0;
}
