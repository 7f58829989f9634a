import { randomUUID } from 'node:crypto';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { InvalidInputError } from '../core/errors.js';
import type { Sql } from '../store/db.js';
import type { Db } from '../store/repos/types.js';
import { parseFlags, runSubcommand } from './args.js';
import { intFlag, positionals, required, resolveDomain, withRepos, type ResolvedDomain } from './resolve.js';

export const dialplanHelp = `Usage:
  voice-ai dialplan install --domain NAME --extension N [--fail-open N|hangup] [--host HOST:PORT]
                            [--order 880] [--cache-dir /var/cache/fusionpbx] [--print]
  voice-ai dialplan remove --domain NAME --extension N [--cache-dir /var/cache/fusionpbx]

install writes (or replaces) one FusionPBX v_dialplans row for the extension, in the domain's context,
ordered before local_extension (890): FreeSWITCH hands the call to the daemon with
\`socket HOST:PORT async full\` (default: VOICE_AI_OUTBOUND_HOST:PORT) and, when the daemon is down or
gives the call back, runs the fail-open action: a transfer to --fail-open, else to the secretary's
transfer_extension, else hangup (NORMAL_TEMPORARY_FAILURE). It then deletes FusionPBX's dialplan cache file
<cache-dir>/dialplan.<domain>. With memcache as FusionPBX's cache, also run
\`fs_cli -x 'memcache delete dialplan:<domain>'\`.
--print prints the XML only (for a plain FreeSWITCH dialplan) and writes nothing.
remove deletes the rows install wrote for the extension, and the cache file.`;

/** Ours: every row we write carries it, so we find and replace only our own rows. */
export const VOICE_AI_APP_UUID = '09510f14-96c8-4442-b0b9-2d16d98c564d';

const EXTENSION_RE = /^[0-9*#+]{1,32}$/;
const HOST_PORT_RE = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):\d{1,5}$/;

type Out = (s: string) => void;

/** `voice-ai dialplan <sub-command>`: returns the exit code. */
export async function runDialplan(argv: string[], config: Config, _log: Logger, out: Out): Promise<number> {
  const [sub, ...rest] = argv;
  return runSubcommand(
    sub,
    { install: () => install(rest, config, out), remove: () => remove(rest, config, out) },
    dialplanHelp,
    out,
  );
}

export interface DialplanEntry {
  dialplanUuid: string;
  extension: string;
  domainName: string;
  /** `host:port` of the daemon's outbound ESL server. */
  socket: string;
  /** An extension to transfer to, or 'hangup'. */
  failOpen: string;
}

/** The FusionPBX-style dialplan_xml of one entry (values escaped). */
export function dialplanXml(e: DialplanEntry): string {
  const expression = `^${e.extension.replace(/[*+]/g, (c) => `\\${c}`)}$`;
  const failOpen =
    e.failOpen === 'hangup'
      ? '<action application="hangup" data="NORMAL_TEMPORARY_FAILURE"/>'
      : `<action application="transfer" data="${xmlAttr(`${e.failOpen} XML ${e.domainName}`)}"/>`;
  return [
    `<extension name="${xmlAttr(`voice-ai-${e.extension}`)}" continue="false" uuid="${xmlAttr(e.dialplanUuid)}">`,
    `\t<condition field="destination_number" expression="${xmlAttr(expression)}">`,
    `\t\t<action application="socket" data="${xmlAttr(`${e.socket} async full`)}"/>`,
    `\t\t${failOpen}`,
    '\t</condition>',
    '</extension>',
  ].join('\n');
}

function xmlAttr(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

async function install(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    extension: { type: 'string' },
    'fail-open': { type: 'string' },
    host: { type: 'string' },
    order: { type: 'string' },
    'cache-dir': { type: 'string' },
    print: { type: 'boolean' },
  });
  positionals(args, 0, 'voice-ai dialplan install --domain NAME --extension N [...]');
  const extension = checkExtension(required(values.extension, 'extension'), 'extension');
  const failOpenFlag = values['fail-open'];
  if (failOpenFlag !== undefined && failOpenFlag !== 'hangup') checkExtension(failOpenFlag, 'fail-open');
  const socket = values.host ?? defaultSocket(config);
  if (!HOST_PORT_RE.test(socket)) throw new InvalidInputError(`--host: expected HOST:PORT, got "${socket}"`);
  const order = intFlag(values.order, 'order', 0, 889) ?? 880;
  const cacheDir = values['cache-dir'] ?? '/var/cache/fusionpbx';

  const result = await withRepos(config, async (repos, sql) => {
    const domain = await resolveDomain(repos, values.domain);
    const secretary = await repos.secretaries.findByExtension(domain.domain_uuid, extension);
    const failOpen = failOpenFlag ?? secretary?.transfer_extension ?? 'hangup';
    const entry = (dialplanUuid: string): DialplanEntry => ({
      dialplanUuid,
      extension,
      domainName: domain.domain_name,
      socket,
      failOpen,
    });
    const hasTable = await dialplansTableExists(sql);
    if (values.print === true) {
      const existing = hasTable ? (await ourRows(sql, domain, extension))[0] : undefined;
      return {
        xml: dialplanXml(entry(existing ?? randomUUID())),
        domain,
        failOpen,
        written: false,
        secretary,
      };
    }
    if (!hasTable)
      throw new InvalidInputError('no v_dialplans table: this is not a FusionPBX database (use --print)');
    const xml = await sql.begin(async (tx) => {
      await lockExtension(tx, domain, extension);
      const [keep, ...extra] = await ourRows(tx, domain, extension);
      const e = entry(keep ?? randomUUID());
      const xml = dialplanXml(e);
      if (extra.length > 0) await tx`DELETE FROM v_dialplans WHERE dialplan_uuid IN ${tx(extra)}`;
      await (keep === undefined
        ? insertRow(tx, domain, e, xml, order)
        : updateRow(tx, domain, e, xml, order));
      return xml;
    });
    return { xml, domain, failOpen, written: true, secretary };
  });
  if (!result.written) {
    out(result.xml);
    return 0;
  }
  const fallback = result.failOpen === 'hangup' ? 'hangup' : `transfer to ${result.failOpen}`;
  out(
    `installed voice-ai-${extension} in ${result.domain.domain_name}: socket ${socket}, fail-open ${fallback}`,
  );
  if (result.secretary === undefined) {
    out(`note: no enabled secretary on ${extension} yet: until one is added, calls fail open at once`);
  }
  return dropCache(cacheDir, result.domain.domain_name, out);
}

async function remove(argv: string[], config: Config, out: Out): Promise<number> {
  const { values, positionals: args } = parseFlags(argv, {
    domain: { type: 'string' },
    extension: { type: 'string' },
    'cache-dir': { type: 'string' },
  });
  positionals(args, 0, 'voice-ai dialplan remove --domain NAME --extension N');
  const extension = checkExtension(required(values.extension, 'extension'), 'extension');
  const { count, domain } = await withRepos(config, async (repos, sql) => {
    const domain = await resolveDomain(repos, values.domain);
    if (!(await dialplansTableExists(sql)))
      throw new InvalidInputError('no v_dialplans table: this is not a FusionPBX database');
    const count = await sql.begin(async (tx) => {
      await lockExtension(tx, domain, extension);
      const res = await tx`
        DELETE FROM v_dialplans
        WHERE app_uuid = ${VOICE_AI_APP_UUID} AND domain_uuid = ${domain.domain_uuid} AND dialplan_number = ${extension}`;
      return res.count;
    });
    return { count, domain };
  });
  if (count === 0) {
    out(`no voice-ai dialplan entry for ${extension} in ${domain.domain_name}: nothing to remove`);
    return 0;
  }
  out(`removed voice-ai-${extension} from ${domain.domain_name}`);
  return dropCache(values['cache-dir'] ?? '/var/cache/fusionpbx', domain.domain_name, out);
}

function checkExtension(value: string, flag: string): string {
  if (!EXTENSION_RE.test(value))
    throw new InvalidInputError(`--${flag}: expected 1 to 32 digits (or * # +), got "${value}"`);
  return value;
}

/** The daemon's listening address as FreeSWITCH should dial it: a wildcard bind is reached on loopback. */
function defaultSocket(config: Config): string {
  const host = ['0.0.0.0', '::', '[::]'].includes(config.outbound.host) ? '127.0.0.1' : config.outbound.host;
  return `${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${config.outbound.port}`;
}

async function dialplansTableExists(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ ok: boolean }[]>`SELECT to_regclass('v_dialplans') IS NOT NULL AS ok`;
  return row?.ok === true;
}

async function ourRows(db: Db, domain: ResolvedDomain, extension: string): Promise<string[]> {
  const rows = await db<{ dialplan_uuid: string }[]>`
    SELECT dialplan_uuid FROM v_dialplans
    WHERE app_uuid = ${VOICE_AI_APP_UUID} AND domain_uuid = ${domain.domain_uuid} AND dialplan_number = ${extension}
    ORDER BY insert_date NULLS LAST, dialplan_uuid
    FOR UPDATE`;
  return rows.map((r) => r.dialplan_uuid);
}

/** Two installs of the same extension at once must not both insert. */
async function lockExtension(tx: Db, domain: ResolvedDomain, extension: string): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtext(${`voice-ai dialplan ${domain.domain_uuid} ${extension}`}))`;
}

// dialplan_enabled / dialplan_continue / dialplan_destination are boolean since FusionPBX 5.5 and text before:
// the untyped literals 'true' / 'false' below take the column's type either way (a text bind parameter would
// not convert to boolean).
function insertRow(tx: Db, domain: ResolvedDomain, e: DialplanEntry, xml: string, order: number) {
  return tx`
    INSERT INTO v_dialplans (
      dialplan_uuid, domain_uuid, app_uuid, hostname, dialplan_context, dialplan_name, dialplan_number,
      dialplan_destination, dialplan_continue, dialplan_xml, dialplan_order, dialplan_enabled,
      dialplan_description, insert_date)
    VALUES (
      ${e.dialplanUuid}, ${domain.domain_uuid}, ${VOICE_AI_APP_UUID}, NULL, ${domain.domain_name},
      ${`voice-ai-${e.extension}`}, ${e.extension}, 'false', 'false', ${xml}, ${order}, 'true',
      ${description(e)}, now())`;
}

function updateRow(tx: Db, domain: ResolvedDomain, e: DialplanEntry, xml: string, order: number) {
  return tx`
    UPDATE v_dialplans SET
      hostname = NULL, dialplan_context = ${domain.domain_name}, dialplan_name = ${`voice-ai-${e.extension}`},
      dialplan_destination = 'false', dialplan_continue = 'false', dialplan_xml = ${xml},
      dialplan_order = ${order}, dialplan_enabled = 'true', dialplan_description = ${description(e)},
      update_date = now()
    WHERE dialplan_uuid = ${e.dialplanUuid}`;
}

function description(e: DialplanEntry): string {
  return `voice-ai secretary on ${e.extension} (written by voice-ai dialplan install)`;
}

/** FusionPBX caches each context's dialplan; until the entry goes, calls see the old one. */
async function dropCache(cacheDir: string, domainName: string, out: Out): Promise<number> {
  if (domainName.includes('/') || domainName.startsWith('.')) {
    out(`not touching the cache for the odd domain name "${domainName}": clear it by hand`);
    return 1;
  }
  const file = path.join(cacheDir, `dialplan.${domainName}`);
  try {
    await unlink(file);
    out(`removed the dialplan cache ${file}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 0;
    out(
      `the row is written, but the dialplan cache ${file} could not be removed (${code ?? 'error'}): delete it by hand`,
    );
    return 1;
  }
  return 0;
}
