import { InvalidInputError, ProviderError } from '../../core/errors.js';
import { isoLanguage } from '../openai-compatible.js';
import type { SttEvent, SttProvider, SttStreamOptions } from '../types.js';
import {
  keyterms,
  listenUrl,
  openListen,
  sampleRate,
  transcribeOverStream,
  type DeepgramConfig,
  type ListenStream,
  type Parser,
} from './deepgram.js';

/** Flux bounds its forced end of turn (eot_timeout_ms) to this range (reference §4.3). */
const EOT_TIMEOUT_MIN_MS = 500;
const EOT_TIMEOUT_MAX_MS = 60_000;

/** True for the models served only on /v2/listen. */
export function isFluxModel(model: string): boolean {
  return model.toLowerCase().startsWith('flux');
}

/**
 * Flux over /v2/listen: the model itself says when the caller's turn ended. StartOfTurn is speech_started,
 * Update a partial, EndOfTurn a final with endOfTurn. EagerEndOfTurn is reported as a partial: the contract
 * has no "probably done" event, and the EndOfTurn that confirms it carries the same transcript.
 * finalize() sends ForceEndTurn; close() sends CloseStream. The v2 socket has no KeepAlive: the caller keeps
 * writing audio (silence included) for as long as the stream is open.
 * Config: eot_threshold (0.5-1.0), eager_eot_threshold (0.3-0.9), eot_timeout_ms (500-60000); a stream's
 * endpointingMs overrides eot_timeout_ms, clamped to that range. Unset, Flux's own defaults apply.
 */
export function createDeepgramFluxStt(config: DeepgramConfig): SttProvider {
  const where = `provider ${config.info.providerUuid ?? '?'} (${config.info.vendor} stt)`;
  const eot = threshold(config.extra, 'eot_threshold', 0.5, 1, where);
  const eager = threshold(config.extra, 'eager_eot_threshold', 0.3, 0.9, where);
  const eotTimeoutMs = threshold(
    config.extra,
    'eot_timeout_ms',
    EOT_TIMEOUT_MIN_MS,
    EOT_TIMEOUT_MAX_MS,
    where,
  );
  const multi = /multi/i.test(config.info.model);
  const open = (opts: SttStreamOptions, signal: AbortSignal): Promise<ListenStream> => {
    const q = new URLSearchParams({
      model: config.info.model,
      encoding: 'linear16',
      sample_rate: String(sampleRate(opts.sampleRateHz)),
    });
    if (eot !== undefined) q.set('eot_threshold', String(eot));
    if (eager !== undefined) q.set('eager_eot_threshold', String(eager));
    const timeoutMs =
      opts.endpointingMs === undefined
        ? eotTimeoutMs
        : Math.min(EOT_TIMEOUT_MAX_MS, Math.max(EOT_TIMEOUT_MIN_MS, opts.endpointingMs));
    if (timeoutMs !== undefined) q.set('eot_timeout_ms', String(Math.round(timeoutMs)));
    // language_hint exists on the multilingual model only; it takes 'pt', not 'pt-BR'.
    const language = multi ? isoLanguage(opts.language ?? config.language) : undefined;
    if (language !== undefined) q.set('language_hint', language);
    for (const term of keyterms(opts.prompt)) q.append('keyterm', term);
    return openListen(
      {
        config,
        url: listenUrl(config, 'v2', q),
        label: 'flux',
        sampleRateHz: opts.sampleRateHz,
        keepAlive: false,
        finalizeMessage: { type: 'ForceEndTurn' },
        parse: fluxParser(config.info.vendor),
      },
      signal,
    );
  };
  return {
    info: config.info,
    stream: open,
    transcribe: (audio, opts, signal) => transcribeOverStream(open, audio, opts, signal),
  };
}

function fluxParser(vendor: string): Parser {
  let lastPartial = '';
  return (msg, writtenMs) => {
    if (msg['type'] === 'Error') {
      // Fatal by the reference; the codes are not documented, so asking again is not assumed to help.
      const raw = msg['code'];
      const code = typeof raw === 'string' || typeof raw === 'number' ? ` (${raw})` : '';
      const description = typeof msg['description'] === 'string' ? `: ${msg['description']}` : '';
      return new ProviderError(vendor, `${vendor} flux error${code}${description}`, { retryable: false });
    }
    if (msg['type'] !== 'TurnInfo') return []; // Connected, ConfigureSuccess/Failure, anything newer
    const text = typeof msg['transcript'] === 'string' ? msg['transcript'].trim() : '';
    const events: SttEvent[] = [];
    switch (msg['event']) {
      case 'StartOfTurn': {
        const start = seconds(msg['audio_window_start']);
        lastPartial = '';
        events.push({
          type: 'speech_started',
          atMs: start === undefined ? writtenMs : Math.round(start * 1000),
        });
        break;
      }
      case 'Update':
      case 'EagerEndOfTurn':
        // Updates come every ~0.25 s, mostly unchanged: only a new text is news.
        if (text !== '' && text !== lastPartial) events.push({ type: 'partial', text });
        lastPartial = text;
        break;
      case 'EndOfTurn': {
        const end = seconds(msg['audio_window_end']);
        lastPartial = '';
        if (text !== '') {
          events.push({
            type: 'final',
            text,
            endOfTurn: true,
            ...(end === undefined ? {} : { atMs: Math.round(end * 1000) }),
          });
        }
        break;
      }
      default:
        break; // TurnResumed: the caller went on; the next Update says what they said
    }
    return events;
  };
}

function threshold(
  c: Readonly<Record<string, unknown>>,
  key: string,
  min: number,
  max: number,
  where: string,
): number | undefined {
  const v = c[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new InvalidInputError(`${where}: config.${key} must be a number from ${min} to ${max}`);
  }
  return v;
}

function seconds(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}
