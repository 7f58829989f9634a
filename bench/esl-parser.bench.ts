// ESL parser throughput over the real recorded FreeSWITCH traffic (its real chunk boundaries), and the memory
// one idle outbound call costs the daemon (500 sessions opened by a fake FreeSWITCH in a child process, so
// only the daemon side is counted). Run alone with `npx tsx bench/esl-parser.bench.ts`.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { pino } from 'pino';
import { createOutboundServer } from '../src/esl/outbound.js';
import { EslParser } from '../src/esl/parser.js';

const RECORDINGS = fileURLToPath(new URL('../test/fixtures/recordings/', import.meta.url));
const TARGET_BYTES = 64 * 1024 * 1024;
const SESSIONS = 500;

export interface EslParserFigures {
  /** Parser throughput, MB (10^6 bytes) per second. */
  mbPerSec: number;
  /** Events (plain and json) framed and typed per second. */
  eventsPerSec: number;
  /** Heap + external bytes per idle outbound session (connect reply parsed, myevents on). */
  bytesPerOutboundConnection: number;
}

interface Entry {
  dir: string;
  kind: string;
  data?: string;
}

/** Every fs->app ESL chunk of every recording, each connection's stream ending on a frame boundary. */
function recordedChunks(): Buffer[] {
  const chunks: Buffer[] = [];
  for (const file of readdirSync(RECORDINGS)
    .filter((f) => f.endsWith('.jsonl'))
    .sort()) {
    for (const line of readFileSync(`${RECORDINGS}${file}`, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      const e = JSON.parse(line) as Entry;
      if (e.kind === 'tcp' && e.dir === 'fs->app' && e.data !== undefined)
        chunks.push(Buffer.from(e.data, 'utf8'));
    }
  }
  return chunks;
}

function gc(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

function throughput(): { mbPerSec: number; eventsPerSec: number } {
  const chunks = recordedChunks();
  const perPass = chunks.reduce((n, c) => n + c.length, 0);
  const parser = new EslParser();
  let events = 0;
  const onFrame = (f: { event: unknown }): void => {
    if (f.event !== undefined) events++;
  };
  for (let i = 0; i < 3; i++) for (const c of chunks) parser.push(c, onFrame); // warm-up
  events = 0;
  const passes = Math.ceil(TARGET_BYTES / perPass);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < passes; i++) for (const c of chunks) parser.push(c, onFrame);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { mbPerSec: (passes * perPass) / 1e6 / seconds, eventsPerSec: events / seconds };
}

const PEER = `
import net from 'node:net';
const reply = Buffer.from(process.env.CONNECT_REPLY, 'base64');
for (let i = 0; i < Number(process.env.N); i++) {
  const s = net.connect(Number(process.env.PORT), '127.0.0.1');
  let buf = '';
  s.on('error', () => {});
  s.on('data', (d) => {
    buf += d.toString('latin1');
    for (let at = buf.indexOf('\\n\\n'); at >= 0; at = buf.indexOf('\\n\\n')) {
      const cmd = buf.slice(0, at);
      buf = buf.slice(at + 2);
      s.write(cmd.startsWith('connect') ? reply : 'Content-Type: command/reply\\nReply-Text: +OK\\n\\n');
    }
  });
}
process.stdin.on('data', () => process.exit(0));
`;

async function memoryPerSession(): Promise<number> {
  const connect = readFileSync(`${RECORDINGS}outbound-socket-turn.jsonl`, 'utf8')
    .split('\n')
    .map((l) => (l.trim() === '' ? undefined : (JSON.parse(l) as Entry & { conn: string })))
    .find((e) => e?.conn === 'outbound' && e.dir === 'fs->app' && e.kind === 'tcp');
  const reply = Buffer.from(connect?.data ?? '', 'utf8');
  let opened = 0;
  let allOpen!: () => void;
  const ready = new Promise<void>((resolve) => (allOpen = resolve));
  let release!: () => void;
  const hold = new Promise<void>((resolve) => (release = resolve));
  const server = await createOutboundServer({
    port: 0,
    log: pino({ level: 'silent' }),
    lingerSeconds: 5,
    onSession: async () => {
      if (++opened === SESSIONS) allOpen();
      await hold;
    },
  });
  gc();
  const before = process.memoryUsage();
  const child = spawn(process.execPath, ['--input-type=module', '-e', PEER], {
    env: {
      ...process.env,
      PORT: String(server.port),
      N: String(SESSIONS),
      CONNECT_REPLY: reply.toString('base64'),
    },
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  try {
    await ready;
    gc();
    const after = process.memoryUsage();
    return (after.heapUsed + after.external - (before.heapUsed + before.external)) / SESSIONS;
  } finally {
    release();
    child.stdin.end('bye\n');
    server.destroy();
  }
}

/** Parser throughput over the recorded traffic and memory per idle outbound session. */
export async function benchEslParser(): Promise<EslParserFigures> {
  const { mbPerSec, eventsPerSec } = throughput();
  const bytesPerOutboundConnection = Math.round(await memoryPerSession());
  return { mbPerSec, eventsPerSec, bytesPerOutboundConnection };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await benchEslParser();
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}
