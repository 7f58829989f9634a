/**
 * One tiny real request through the same registry the daemon uses (so the same config validation, adapters
 * and timeouts), for `providers test` and `doctor`.
 */
import type { Logger } from 'pino';
import { createProviderRegistry } from '../providers/registry.js';
import type { FetchFn } from '../providers/transport/http.js';
import type { BuildableKind, ProviderRow as AdapterRow } from '../providers/types.js';
import type { ProviderWithSecrets } from '../store/repos/types.js';

export interface ProbeResult {
  status: 'ok' | 'fail' | 'skip';
  ms: number;
  /** The model the adapter used, when it was built. */
  model?: string;
  /** What came back (ok), why it failed (fail) or was skipped (skip); one line. */
  detail: string;
}

export interface ProbeOptions {
  log: Logger;
  /** Budget of the whole request; no retries. */
  timeoutMs: number;
  fetch?: FetchFn;
}

const BUILDABLE: readonly string[] = ['stt', 'llm', 'tts', 'embeddings'] satisfies BuildableKind[];

const STT_RATE_HZ = 8000;

/** One second of a quiet 440 Hz tone at 8 kHz: what a phone line sends, small enough for any vendor. */
export function probeAudio(): { samples: Int16Array; sampleRateHz: number } {
  const samples = new Int16Array(STT_RATE_HZ);
  for (let i = 0; i < samples.length; i++) {
    samples[i] = Math.round(2000 * Math.sin((2 * Math.PI * 440 * i) / STT_RATE_HZ));
  }
  return { samples, sampleRateHz: STT_RATE_HZ };
}

/** Sends one small request to `row`'s vendor (enabled or not) and says how it went; never throws. */
export async function probeProvider(row: ProviderWithSecrets, opts: ProbeOptions): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const kind = row.provider_type;
  if (!BUILDABLE.includes(kind)) {
    return { status: 'skip', ms: 0, detail: `${kind} providers cannot be tested from the CLI yet` };
  }
  const t = opts.timeoutMs;
  // The registry logs skipped rows and retries; the result line already says it all.
  const log = opts.log.isLevelEnabled('debug') ? opts.log : opts.log.child({}, { level: 'error' });
  const registry = createProviderRegistry({
    log,
    retry: { maxRetries: 0 },
    timeouts: {
      stt: { timeoutMs: t },
      embeddings: { timeoutMs: t },
      llm: { timeoutMs: t, firstByteTimeoutMs: t, idleTimeoutMs: t },
      tts: { timeoutMs: t, firstByteTimeoutMs: t, idleTimeoutMs: t },
    },
    ...(opts.fetch === undefined ? {} : { fetch: opts.fetch }),
  });
  const adapterRow: AdapterRow = {
    provider_uuid: row.provider_uuid,
    domain_uuid: row.domain_uuid,
    provider_type: row.provider_type,
    provider_name: row.provider_name,
    config: row.config,
    secrets: row.secrets,
    is_default: true,
    is_enabled: true,
    priority: row.priority,
  };
  // A backstop in case an adapter ignores its own timeouts.
  const signal = AbortSignal.timeout(t + 2000);
  let model: string | undefined;
  try {
    const detail = await (async (): Promise<string> => {
      switch (kind) {
        case 'stt': {
          const p = registry.build([adapterRow], 'stt');
          model = p.info.model;
          const r = await p.transcribe(probeAudio(), {}, signal);
          return `transcript ${JSON.stringify(r.text)}`;
        }
        case 'llm': {
          const p = registry.build([adapterRow], 'llm');
          model = p.info.model;
          let text = '';
          const req = {
            system: 'Answer with one word.',
            messages: [{ role: 'user' as const, content: 'Ping?' }],
          };
          for await (const ev of p.stream({ ...req, maxTokens: 1 }, signal)) {
            if (ev.type === 'text') text += ev.delta;
          }
          return `reply ${JSON.stringify(text)}`;
        }
        case 'tts': {
          const p = registry.build([adapterRow], 'tts');
          model = p.info.model;
          let samples = 0;
          let rate = 0;
          for await (const chunk of p.synthesize('Hello', {}, signal)) {
            samples += chunk.samples.length;
            rate = chunk.sampleRateHz;
          }
          if (samples === 0) throw new Error('no audio came back');
          return `${Math.round((samples / rate) * 1000)} ms of audio at ${rate} Hz`;
        }
        default: {
          const p = registry.build([adapterRow], 'embeddings');
          model = p.info.model;
          const [vector] = await p.embed(['hello'], signal);
          return `${vector?.length ?? 0} dimensions`;
        }
      }
    })();
    return { status: 'ok', ms: elapsed(), detail, ...(model === undefined ? {} : { model }) };
  } catch (err) {
    const detail = oneLine(err instanceof Error ? err.message : String(err));
    return { status: 'fail', ms: elapsed(), detail, ...(model === undefined ? {} : { model }) };
  }
}

/** `llm openai gpt-4o-mini <uuid> 120 ms: reply "Hi"`: what was tried and how it went. */
export function describeProbe(row: ProbeSubject, r: ProbeResult): string {
  const model = r.model ?? (typeof row.config['model'] === 'string' ? row.config['model'] : '');
  const what = [row.provider_type, row.provider_name, model, row.provider_uuid].filter((s) => s !== '');
  return `${what.join(' ')} ${r.ms} ms: ${r.detail}`;
}

/** `OK   llm openai ...` / `FAIL ...`: one line per provider. */
export function formatProbe(row: ProbeSubject, r: ProbeResult): string {
  return `${{ ok: 'OK  ', fail: 'FAIL', skip: 'skip' }[r.status]} ${describeProbe(row, r)}`;
}

export type ProbeSubject = Pick<
  ProviderWithSecrets,
  'provider_type' | 'provider_name' | 'provider_uuid' | 'config'
>;

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').slice(0, 300);
}
