import { assertSecretaryInDomain, columnsOf, firstRow, inTransaction, valuesOf } from './helpers.js';
import type { Db, TransferRuleRow } from './types.js';

type Settable = Omit<
  TransferRuleRow,
  'voice_transfer_rule_uuid' | 'domain_uuid' | 'created_at' | 'updated_at'
>;

export type TransferRuleInput = Pick<Settable, 'department' | 'destination_type' | 'destination_number'> &
  Partial<Settable>;
export type TransferRulePatch = Partial<Omit<Settable, 'secretary_uuid'>>;

const PATCHABLE: readonly (keyof TransferRulePatch)[] = [
  'department',
  'keywords',
  'destination_type',
  'destination_number',
  'destination_context',
  'priority',
  'business_hours',
  'fallback_action',
  'fallback_destination',
  'is_enabled',
];
const INSERTABLE: readonly (keyof TransferRuleInput)[] = [...PATCHABLE, 'secretary_uuid'];

export interface TransferRuleListFilter {
  /** This secretary's rules plus the domain-wide ones (secretary_uuid NULL). */
  secretaryUuid?: string;
  enabledOnly?: boolean;
}

export interface TransferRulesRepo {
  create(domainUuid: string, input: TransferRuleInput): Promise<TransferRuleRow>;
  /** By priority, then age. */
  list(domainUuid: string, filter?: TransferRuleListFilter): Promise<TransferRuleRow[]>;
  findByUuid(domainUuid: string, ruleUuid: string): Promise<TransferRuleRow | undefined>;
  update(
    domainUuid: string,
    ruleUuid: string,
    patch: TransferRulePatch,
  ): Promise<TransferRuleRow | undefined>;
  remove(domainUuid: string, ruleUuid: string): Promise<boolean>;
}

/** Domain-scoped access to v_voice_transfer_rules; `sql` may be the pool or a transaction. */
export function createTransferRulesRepo(sql: Db): TransferRulesRepo {
  /** jsonb values go through sql.json so objects are sent as JSON whatever postgres.js infers. */
  const toValues = (db: Db, obj: Partial<Settable>, cols: readonly (keyof Settable)[]) => {
    const values: Record<string, unknown> = {};
    for (const c of cols) {
      const v = obj[c];
      values[c] = c === 'business_hours' && v !== null && v !== undefined ? db.json(v) : v;
    }
    return values;
  };

  const findByUuid = async (domainUuid: string, ruleUuid: string): Promise<TransferRuleRow | undefined> => {
    const rows = await sql<TransferRuleRow[]>`
      SELECT * FROM v_voice_transfer_rules WHERE domain_uuid = ${domainUuid} AND voice_transfer_rule_uuid = ${ruleUuid}`;
    return rows[0];
  };

  return {
    async create(domainUuid, input) {
      const cols = columnsOf(input, INSERTABLE);
      return inTransaction(sql, async (tx) => {
        await assertSecretaryInDomain(tx, domainUuid, input.secretary_uuid);
        const values = { ...toValues(tx, input, cols), domain_uuid: domainUuid };
        const rows = await tx<TransferRuleRow[]>`
          INSERT INTO v_voice_transfer_rules ${valuesOf(tx, values, [...cols, 'domain_uuid'])} RETURNING *`;
        return firstRow(rows);
      });
    },

    async list(domainUuid, filter = {}) {
      const secretary = filter.secretaryUuid ?? null;
      const enabledOnly = filter.enabledOnly ?? false;
      return sql<TransferRuleRow[]>`
        SELECT * FROM v_voice_transfer_rules
        WHERE domain_uuid = ${domainUuid}
          AND (${secretary}::uuid IS NULL OR secretary_uuid IS NULL OR secretary_uuid = ${secretary}::uuid)
          AND (NOT ${enabledOnly}::boolean OR is_enabled)
        ORDER BY priority, created_at, voice_transfer_rule_uuid`;
    },

    findByUuid,

    async update(domainUuid, ruleUuid, patch) {
      const cols = columnsOf(patch, PATCHABLE);
      if (cols.length === 0) return findByUuid(domainUuid, ruleUuid);
      // The helper must sit right after SET in this template: postgres.js picks its form from the SQL before it.
      const rows = await sql<TransferRuleRow[]>`
        UPDATE v_voice_transfer_rules SET ${valuesOf(sql, toValues(sql, patch, cols), cols)}, updated_at = now()
        WHERE domain_uuid = ${domainUuid} AND voice_transfer_rule_uuid = ${ruleUuid}
        RETURNING *`;
      return rows[0];
    },

    async remove(domainUuid, ruleUuid) {
      const res = await sql`
        DELETE FROM v_voice_transfer_rules WHERE domain_uuid = ${domainUuid} AND voice_transfer_rule_uuid = ${ruleUuid}`;
      return res.count > 0;
    },
  };
}
