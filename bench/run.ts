// `npm run bench`: every benchmark in one run, each figure as a ratio against a baseline measured in the
// same run where the issue asks for one. Prints a table; docs/PERFORMANCE.md records what was seen.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { ensureFusionPbxStandIn } from '../src/store/fusionpbx-standin.js';
import { startEmbeddedPostgres } from '../src/store/embedded.js';
import { migrate } from '../src/store/migrations.js';

type Bench = { name: string; run: (databaseUrl: string) => Promise<Record<string, number>> };

async function loadBenches(): Promise<Bench[]> {
  const benches: Bench[] = [];
  const wq = await import('./write-queue.bench.js').catch(() => undefined);
  if (wq) benches.push({ name: 'write queue', run: async (url) => ({ ...(await wq.benchWriteQueue(url)) }) });
  const sl = await import('./secretary-lookup.bench.js').catch(() => undefined);
  if (sl)
    benches.push({
      name: 'cached secretary lookup',
      run: async (url) => ({ ...(await sl.benchSecretaryLookup(url)) }),
    });
  const esl = await import('./esl-parser.bench.js').catch(() => undefined);
  if (esl) benches.push({ name: 'ESL parser', run: async () => ({ ...(await esl.benchEslParser()) }) });
  const audio = await import('./audio.bench.js').catch(() => undefined);
  if (audio) benches.push({ name: 'audio resample', run: async () => ({ ...(await audio.benchAudio()) }) });
  const vad = await import('./vad.bench.js').catch(() => undefined);
  if (vad) benches.push({ name: 'vad', run: async () => ({ ...(await vad.benchVad()) }) });
  const t = await import('./turn-latency.bench.js').catch(() => undefined);
  if (t) benches.push({ name: 'turn latency', run: async (url) => ({ ...(await t.benchTurnLatency(url)) }) });
  const v2v = await import('./voice-to-voice.bench.js').catch(() => undefined);
  if (v2v)
    benches.push({ name: 'voice to voice', run: async (url) => ({ ...(await v2v.benchVoiceToVoice(url)) }) });
  return benches;
}

async function main(): Promise<void> {
  const only = process.argv.slice(2);
  let databaseUrl = process.env.DATABASE_URL;
  let stop: (() => Promise<void>) | undefined;
  if (!databaseUrl) {
    const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-bench-pg-'));
    // fsync on, as in production: the one-insert-per-row baseline must pay for its commits.
    const cluster = await startEmbeddedPostgres({ dataDir: path.join(dir, 'data'), fsync: true });
    databaseUrl = cluster.adminUrl;
    stop = async () => {
      await cluster.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined });
  await ensureFusionPbxStandIn(sql);
  await migrate(sql);
  await sql.end();
  try {
    for (const b of await loadBenches()) {
      if (only.length > 0 && !only.some((o) => b.name.includes(o))) continue;
      const figures = await b.run(databaseUrl);
      const text = Object.entries(figures)
        .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toFixed(2)}`)
        .join('  ');
      process.stdout.write(`${b.name.padEnd(26)} ${text}\n`);
    }
  } finally {
    await stop?.();
  }
}

await main();
