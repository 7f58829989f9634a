// Cached secretary lookup, the first thing every call does: warm the directory, then time ~100k hits one by one.
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import postgres from 'postgres';
import { createDirectory } from '../src/store/directory.js';
import { createSecretariesRepo } from '../src/store/repos/secretaries.js';

const LOOKUPS = 100_000;
const EXTENSIONS = 100;

export interface SecretaryLookupFigures {
  p50Us: number;
  p99Us: number;
  /** Lookups per second over the timed loop (each awaited, as a call would). */
  ops: number;
}

/** Measures cached `secretaryByExtension` on a migrated database (with v_domains); cleans up its rows. */
export async function benchSecretaryLookup(sqlUrl: string): Promise<SecretaryLookupFigures> {
  const sql = postgres(sqlUrl, { max: 4, onnotice: () => undefined });
  const domainUuid = randomUUID();
  let dir: ReturnType<typeof createDirectory> | undefined;
  try {
    await sql`
      INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled)
      VALUES (${domainUuid}, ${`bench-${domainUuid.slice(0, 8)}.invalid`}, true)`;
    const repo = createSecretariesRepo(sql);
    const extensions: string[] = [];
    for (let i = 0; i < EXTENSIONS; i++) {
      const extension = String(5000 + i);
      await repo.create(domainUuid, { name: `Bench ${i}`, extension, greeting: 'Olá' });
      extensions.push(extension);
    }
    // Listening only from now on: the inserts' notifications are not ours, so nothing drops the warm cache.
    dir = createDirectory({ sql, log: pino({ level: 'silent' }), ttlMs: 3_600_000 });
    await dir.ready();
    for (const ext of extensions) await dir.secretaryByExtension(domainUuid, ext);
    const loadsAfterWarmup = dir.stats().loads;

    const samples = new Float64Array(LOOKUPS);
    const started = performance.now();
    for (let i = 0; i < LOOKUPS; i++) {
      const ext = extensions[i % EXTENSIONS] ?? '5000';
      const t0 = performance.now();
      await dir.secretaryByExtension(domainUuid, ext);
      samples[i] = performance.now() - t0;
    }
    const elapsedMs = performance.now() - started;
    if (dir.stats().loads !== loadsAfterWarmup) throw new Error('cache misses during the timed loop');

    samples.sort();
    const at = (q: number): number => (samples[Math.min(LOOKUPS - 1, Math.floor(q * LOOKUPS))] ?? 0) * 1000;
    return { p50Us: at(0.5), p99Us: at(0.99), ops: Math.round(LOOKUPS / (elapsedMs / 1000)) };
  } finally {
    await dir?.close();
    await sql`DELETE FROM v_domains WHERE domain_uuid = ${domainUuid}`;
    await sql.end();
  }
}
