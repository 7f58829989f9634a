import { createConversationsRepo, type ConversationsRepo } from './conversations.js';
import { createDocumentsRepo, type DocumentsRepo } from './documents.js';
import { createDomainsRepo, type DomainsRepo } from './domains.js';
import { createMessagesRepo, type MessagesRepo } from './messages.js';
import { createProvidersRepo, type ProvidersRepo } from './providers.js';
import { createSecretariesRepo, type SecretariesRepo } from './secretaries.js';
import { createTransferRulesRepo, type TransferRulesRepo } from './transfer-rules.js';
import type { Db } from './types.js';

export interface Repos {
  domains: DomainsRepo;
  providers: ProvidersRepo;
  secretaries: SecretariesRepo;
  conversations: ConversationsRepo;
  messages: MessagesRepo;
  documents: DocumentsRepo;
  transferRules: TransferRulesRepo;
}

/** Every repository on one `sql` (the pool, or a transaction to group writes). */
export function createRepos(sql: Db): Repos {
  return {
    domains: createDomainsRepo(sql),
    providers: createProvidersRepo(sql),
    secretaries: createSecretariesRepo(sql),
    conversations: createConversationsRepo(sql),
    messages: createMessagesRepo(sql),
    documents: createDocumentsRepo(sql),
    transferRules: createTransferRulesRepo(sql),
  };
}
