// Voice to voice: the caller's end of speech to the first frame of the reply reaching them, on the unicast
// backend (endpointer, full duplex) against the files backend (record until silence_seconds, playback) in the
// same run, same daemon, same fake providers at fixed latencies (STT 150 ms, LLM 200 ms to its first chunk
// then 20 ms a token, TTS 150 ms to its first byte) and the same 4-sentence reply as the turn benchmark.
//
// Measured on the fake switch's side, in its call time, at speed 1 (the daemon paces unicast in real time):
// - unicast: the script puts the caller's last voiced sample at a known call time; the reply's first frame is
//   the first frame the caller's leg read after it (FakeCall.unicast.heardFrames());
// - files: the caller's end of speech is the same offset into the `record` that heard it, and the reply's
//   first frame is the start of the first playback after that record (the fake's playback events).
// The secretary's silence_seconds is FusionPBX's default 2 s; the endpointer ends a turn after 600 ms.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { parseWav } from '../src/audio/wav.js';
import { loadConfig } from '../src/config.js';
import { startDaemon } from '../src/main.js';
import { createProvidersRepo } from '../src/store/repos/providers.js';
import { createSecretariesRepo } from '../src/store/repos/secretaries.js';
import { startFakeFreeSwitch, type CallerStep } from '../test/fakes/fake-freeswitch/index.js';
import { startFakeOpenAi, tone } from '../test/fakes/openai-server.js';

const API_KEY = 'sk-bench-FAKEKEY0123456789abcdef';
const ENCRYPTION_KEY = 'bench-v2v-key-0123456789abcdef';
const SALES_8K = path.resolve(import.meta.dirname, '../test/fixtures/audio/fake-fs-sales-8k.wav');
/** Speech in the fixture ends at 3.30 s (see bench/turn-harness.ts). */
const SPEECH_END_S = 3.3;
const REPLY =
  'Claro, posso ajudar com isso. Nosso horário é de segunda a sexta, das oito às dezoito. ' +
  'Aos sábados abrimos das nove ao meio-dia. Quer que eu transfira para o setor de vendas?';
const CALLS = Number(process.env['V2V_CALLS'] ?? 4);

export type VoiceToVoiceFigures = {
  calls: number;
  unicastP50Ms: number;
  unicastP95Ms: number;
  filesP50Ms: number;
  filesP95Ms: number;
  /** unicast p50 / files p50: below 0.5 is the "at least 50% lower". */
  ratioP50: number;
  /** What the providers alone take on the path: STT + LLM to the first sentence + TTS first byte. */
  providersMs: number;
};

export async function benchVoiceToVoice(databaseUrl: string): Promise<VoiceToVoiceFigures> {
  const sql = postgres(databaseUrl, { max: 2, onnotice: () => undefined });
  const domainUuid = randomUUID();
  const domainName = `v2v-${domainUuid.slice(0, 8)}.bench`;
  await sql`INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled) VALUES (${domainUuid}, ${domainName}, true)`;
  const fs = await startFakeFreeSwitch({ speed: 1 });
  const ai = await startFakeOpenAi({ apiKey: API_KEY });
  ai.on('transcriptions', () => ({
    type: 'transcription',
    text: 'Qual é o horário?',
    latency: { firstByteMs: 150 },
  }));
  ai.on('chat', () => ({ type: 'chat', text: REPLY, latency: { firstByteMs: 200, perChunkMs: 20 } }));
  ai.on('speech', (req) => {
    const input = (req.body as { input?: string }).input ?? '';
    return {
      type: 'speech',
      samples: tone(Math.max(300, input.length * 60)),
      latency: { firstByteMs: 150, perChunkMs: 0 },
    };
  });
  const providers = createProvidersRepo(sql);
  const mk = (type: 'stt' | 'llm' | 'tts', model: string) =>
    providers.create(
      domainUuid,
      {
        provider_type: type,
        provider_name: 'openai',
        config: { base_url: ai.baseUrl, model },
        secrets: { api_key: API_KEY },
        is_default: true,
      },
      ENCRYPTION_KEY,
    );
  const stt = await mk('stt', 'gpt-transcribe');
  const llm = await mk('llm', 'gpt-5.4-mini');
  const tts = await mk('tts', 'tts-1');
  const secretaries = createSecretariesRepo(sql);
  const common = {
    name: 'Ana',
    greeting: 'Olá.',
    farewell: 'Até logo.',
    language: 'pt-BR',
    stt_provider_uuid: stt.provider_uuid,
    llm_provider_uuid: llm.provider_uuid,
    tts_provider_uuid: tts.provider_uuid,
    silence_seconds: 2,
    max_turns: 1,
  };
  await secretaries.create(domainUuid, { ...common, extension: '8001', processing_mode: 'turn_based' });
  await secretaries.create(domainUuid, {
    ...common,
    extension: '8002',
    processing_mode: 'auto',
    media: 'unicast',
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'voice-ai-v2v-'));
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    VOICE_AI_ENCRYPTION_KEY: ENCRYPTION_KEY,
    VOICE_AI_ESL_PORT: String(fs.inboundPort),
    VOICE_AI_OUTBOUND_PORT: '0',
    VOICE_AI_HTTP_PORT: '0',
    VOICE_AI_AUDIO_DIR: path.join(dir, 'audio'),
    VOICE_AI_SPOOL_DIR: path.join(dir, 'spool'),
    VOICE_AI_UNICAST_PORTS: '47000-47099',
  });
  const daemon = await startDaemon(config, { log: pino({ level: 'silent' }), fillerAfterMs: 60_000 });
  const wav = parseWav(readFileSync(SALES_8K));
  // The caller starts talking after the greeting ("Olá.", 300 ms). On unicast the script runs from the
  // unicast's start, while the greeting plays; on files from the record's start, after it (and a lead over
  // silence_seconds would end the record empty).
  const leadMs = { '8001': 300, '8002': 1500 } as const;
  const scriptFor = (lead: number): CallerStep[] => [
    { type: 'silence', ms: lead },
    { type: 'speak', pcm: wav.samples, sampleRateHz: wav.sampleRateHz },
    { type: 'silence', ms: 4000 },
  ];
  const unicast: number[] = [];
  const files: number[] = [];
  try {
    for (let i = 0; i < CALLS; i++) {
      for (const ext of ['8001', '8002'] as const) {
        const speechEndMs = leadMs[ext] + SPEECH_END_S * 1000;
        const call = fs.placeCall({
          target: { host: '127.0.0.1', port: daemon.outboundPort },
          domainUuid,
          domainName,
          destinationNumber: ext,
          script: scriptFor(leadMs[ext]),
        });
        // The fake's channel events as they happen, on this thread's clock (speed 1: call time = wall time).
        const t0 = performance.now();
        const seen: { name: string; atMs: number }[] = [];
        const poll = setInterval(() => {
          while (seen.length < call.eventLog.length)
            seen.push({ name: call.eventLog[seen.length] ?? '', atMs: performance.now() - t0 });
        }, 1);
        await call.ended;
        clearInterval(poll);
        if (ext === '8002') {
          // Unicast: caller frames are pulled from the script from the unicast's start, heardFrames' zero.
          const first = call.unicast.heardFrames().find((f) => f.atMs > speechEndMs && energy(f.samples) > 0);
          if (first !== undefined) unicast.push(first.atMs - speechEndMs);
        } else {
          // Files: the record pulls the script from its own start.
          const rec = seen.find((e) => e.name === 'CHANNEL_EXECUTE record');
          const reply = seen.find(
            (e) => e.name === 'CHANNEL_EXECUTE playback' && rec !== undefined && e.atMs > rec.atMs,
          );
          if (rec !== undefined && reply !== undefined) files.push(reply.atMs - (rec.atMs + speechEndMs));
        }
      }
    }
  } finally {
    await daemon.stop();
    await fs.stop();
    await ai.close();
    await sql`DELETE FROM v_domains WHERE domain_uuid = ${domainUuid}`;
    await sql.end();
    await rm(dir, { recursive: true, force: true });
  }
  const u = stats(unicast);
  const f = stats(files);
  return {
    calls: CALLS,
    unicastP50Ms: u.p50,
    unicastP95Ms: u.p95,
    filesP50Ms: f.p50,
    filesP95Ms: f.p95,
    ratioP50: u.p50 / f.p50,
    providersMs: 150 + 200 + 6 * 20 + 150,
  };
}

function energy(s: Int16Array): number {
  let e = 0;
  for (const v of s) e += Math.abs(v);
  return e / Math.max(1, s.length);
}

function stats(xs: number[]): { p50: number; p95: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
  return { p50: Math.round(at(0.5)), p95: Math.round(at(0.95)) };
}
