import { describeShutdown, shutdownOf, type ShutdownRow } from '../providers/model-shutdowns.js';
import type { Repos } from '../store/repos/index.js';
import { resolveDomain } from './resolve.js';

type Status = 'ok' | 'FAIL' | 'warn';
type Report = (name: string, status: Status, detail: string) => void;

/**
 * Doctor's check of every enabled provider row (of `domainFlag`'s domain, else of all) against the known
 * shutdowns: a warning with the date while the model still works, a failure from its shutdown day on.
 */
export async function checkModelShutdowns(
  repos: Repos,
  domainFlag: string | undefined,
  now: Date,
  report: Report,
): Promise<void> {
  const domains =
    domainFlag === undefined
      ? (await repos.domains.list()).map((d) => ({ ...d, domain_name: d.domain_name ?? d.domain_uuid }))
      : [await resolveDomain(repos, domainFlag)];
  let checked = 0;
  let found = 0;
  for (const domain of domains) {
    for (const row of await repos.providers.list(domain.domain_uuid, { enabledOnly: true })) {
      checked++;
      const f = shutdownOf(row, now);
      if (f === undefined) continue;
      found++;
      report(`model ${domain.domain_name}`, f.past ? 'FAIL' : 'warn', describeShutdown(row, f));
    }
  }
  if (found === 0) report('models', 'ok', `${checked} provider row(s), none on a known shutdown list`);
}

/** `voice-ai providers list`'s trailing lines: one per row whose model is on a shutdown list. */
export function shutdownWarnings(rows: readonly (ShutdownRow & { provider_uuid: string })[], now: Date) {
  const lines: string[] = [];
  for (const row of rows) {
    const f = shutdownOf(row, now);
    if (f !== undefined) lines.push(`${f.past ? 'error' : 'warning'}: ${describeShutdown(row, f)}`);
  }
  return lines;
}
