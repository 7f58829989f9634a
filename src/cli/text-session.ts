import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import { secretaryProfile } from '../conversation/profile.js';
import type { SecretaryProfile } from '../conversation/session.js';
import { createProviderRegistry } from '../providers/registry.js';
import type {
  LlmProvider,
  ProviderByKind,
  ProviderRow as AdapterRow,
  TtsProvider,
} from '../providers/types.js';
import type { Sql } from '../store/db.js';
import { createRepos } from '../store/repos/index.js';
import type { SecretaryWithProviders } from '../store/repos/types.js';
import { startClaimedWriteQueue } from '../store/spool-claim.js';
import type { WriteQueue } from '../store/write-queue.js';
import { resolveDomain } from './resolve.js';

export interface TextSession {
  secretary: SecretaryWithProviders;
  profile: SecretaryProfile;
  llm: LlmProvider;
  /** Only with `say`. */
  tts: TtsProvider | undefined;
  domainName: string;
  queue: WriteQueue;
  llmName: string;
  ttsName: string | undefined;
  /** Closes the write queue (writing or spooling every row) and releases this process's spool directory. */
  close(opts: { timeoutMs: number }): Promise<void>;
}

/**
 * Prepares a text conversation with the secretary on (domain, extension): the same providers (the secretary's
 * own first, then the domain's others as fallbacks), prompt and tools as a call, rows written through a
 * write queue the caller must close (TextSession.close). Several sessions may run at once on one
 * `config.spoolDir`: each process spools in a directory of its own under it, and replays what dead ones left.
 */
export async function openTextSession(opts: {
  sql: Sql;
  config: Config;
  log: Logger;
  domain: string;
  extension: string;
  /** Also build the secretary's TTS (the console's --say). */
  say?: boolean;
}): Promise<TextSession> {
  const repos = createRepos(opts.sql);
  const domain = await resolveDomain(repos, opts.domain);
  const secretary = await repos.secretaries.findByExtension(domain.domain_uuid, opts.extension);
  if (!secretary) {
    throw new InvalidInputError(
      `no enabled secretary on extension ${opts.extension} in ${domain.domain_name}`,
    );
  }
  const registry = createProviderRegistry({ log: opts.log.child({ component: 'providers' }) });
  const build = async <K extends 'llm' | 'tts'>(
    kind: K,
    preferred: string | null,
  ): Promise<ProviderByKind[K]> => {
    const listed = await repos.providers.listEnabledForType(domain.domain_uuid, kind);
    const rows: AdapterRow[] = [];
    for (const p of listed) {
      const full = await repos.providers.getWithSecrets(
        domain.domain_uuid,
        p.provider_uuid,
        opts.config.encryptionKey ?? '',
      );
      if (full) rows.push(full);
    }
    return registry.build(rows, kind, { preferredUuid: preferred });
  };
  const llm = await build('llm', secretary.llm_provider_uuid);
  const tts = opts.say ? await build('tts', secretary.tts_provider_uuid) : undefined;
  const claimed = await startClaimedWriteQueue({
    sql: opts.sql,
    baseDir: opts.config.spoolDir,
    log: opts.log.child({ component: 'write-queue' }),
  });
  return {
    secretary,
    profile: secretaryProfile(secretary, domain.domain_name),
    llm,
    tts,
    domainName: domain.domain_name,
    queue: claimed.queue,
    llmName: llm.info.vendor,
    ttsName: tts?.info.vendor,
    close: (o) => claimed.close(o),
  };
}
