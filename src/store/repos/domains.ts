import { isUuid } from './helpers.js';
import type { Db, DomainRow } from './types.js';

export interface DomainsRepo {
  /** Undefined for an unknown or malformed uuid. */
  findByUuid(domainUuid: string): Promise<DomainRow | undefined>;
  /** FusionPBX domain names are unique in practice but not by constraint: the oldest row wins. */
  findByName(domainName: string): Promise<DomainRow | undefined>;
  list(): Promise<DomainRow[]>;
}

/**
 * Read-only access to FusionPBX's v_domains (FusionPBX owns the table; we never write it). The domain is the
 * scope of everything else, so these are the only lookups that are not themselves domain-scoped.
 */
export function createDomainsRepo(sql: Db): DomainsRepo {
  return {
    async findByUuid(domainUuid) {
      if (!isUuid(domainUuid)) return undefined;
      const rows = await sql<DomainRow[]>`
        SELECT domain_uuid, domain_name, domain_enabled FROM v_domains WHERE domain_uuid = ${domainUuid}`;
      return rows[0];
    },

    async findByName(domainName) {
      const rows = await sql<DomainRow[]>`
        SELECT domain_uuid, domain_name, domain_enabled FROM v_domains
        WHERE lower(domain_name) = lower(${domainName})
        ORDER BY insert_date NULLS LAST, domain_uuid
        LIMIT 1`;
      return rows[0];
    },

    async list() {
      return sql<DomainRow[]>`
        SELECT domain_uuid, domain_name, domain_enabled FROM v_domains ORDER BY domain_name, domain_uuid`;
    },
  };
}
