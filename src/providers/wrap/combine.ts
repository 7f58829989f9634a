import { InvalidInputError } from '../../core/errors.js';
import type {
  AnyProvider,
  EmbeddingsProvider,
  LlmProvider,
  ProviderInfo,
  SttProvider,
  TtsProvider,
} from '../types.js';

/** One provider's pending operation: run it (again) with a signal. */
export interface Op<T> {
  readonly info: ProviderInfo;
  run(signal: AbortSignal): T;
}

/**
 * How a wrapper treats the two shapes of provider method: one-shot calls (transcribe, embed) and streams
 * (LLM, TTS). Writing a wrapper means writing these two functions; `combine` maps them onto every kind.
 */
export interface Policy {
  call<T>(ops: readonly Op<Promise<T>>[], signal: AbortSignal): Promise<T>;
  stream<T>(ops: readonly Op<AsyncIterable<T>>[], signal: AbortSignal): AsyncIterable<T>;
}

/** A policy over a single provider. */
export interface SinglePolicy {
  call<T>(op: Op<Promise<T>>, signal: AbortSignal): Promise<T>;
  stream<T>(op: Op<AsyncIterable<T>>, signal: AbortSignal): AsyncIterable<T>;
}

/** A provider of the same kind as `providers` whose methods go through `policy`; `info` is the face it shows. */
export function combine<P extends AnyProvider>(
  providers: readonly P[],
  info: ProviderInfo,
  policy: Policy,
): P {
  if (providers.length === 0) throw new InvalidInputError('no provider to wrap');
  switch (info.kind) {
    case 'stt': {
      const ps = providers as readonly AnyProvider[] as readonly SttProvider[];
      const out: SttProvider = {
        info,
        transcribe: (audio, opts, signal) =>
          policy.call(
            ps.map((p) => ({ info: p.info, run: (s: AbortSignal) => p.transcribe(audio, opts, s) })),
            signal,
          ),
      };
      return out as P;
    }
    case 'llm': {
      const ps = providers as readonly AnyProvider[] as readonly LlmProvider[];
      const out: LlmProvider = {
        info,
        stream: (req, signal) =>
          policy.stream(
            ps.map((p) => ({ info: p.info, run: (s: AbortSignal) => p.stream(req, s) })),
            signal,
          ),
      };
      return out as P;
    }
    case 'tts': {
      const ps = providers as readonly AnyProvider[] as readonly TtsProvider[];
      const out: TtsProvider = {
        info,
        synthesize: (text, opts, signal) =>
          policy.stream(
            ps.map((p) => ({ info: p.info, run: (s: AbortSignal) => p.synthesize(text, opts, s) })),
            signal,
          ),
      };
      return out as P;
    }
    case 'embeddings': {
      const ps = providers as readonly AnyProvider[] as readonly EmbeddingsProvider[];
      const dimensions = ps[0]?.dimensions;
      const out: EmbeddingsProvider = {
        info,
        ...(dimensions === undefined ? {} : { dimensions }),
        embed: (texts, signal) =>
          policy.call(
            ps.map((p) => ({ info: p.info, run: (s: AbortSignal) => p.embed(texts, s) })),
            signal,
          ),
      };
      return out as P;
    }
    case 'realtime':
      throw new InvalidInputError('realtime providers cannot be wrapped yet');
  }
}

/** `combine` for a wrapper around one provider, keeping its info. */
export function around<P extends AnyProvider>(provider: P, policy: SinglePolicy): P {
  return combine([provider], provider.info, {
    call: (ops, signal) => policy.call(first(ops), signal),
    stream: (ops, signal) => policy.stream(first(ops), signal),
  });
}

function first<T>(ops: readonly T[]): T {
  const op = ops[0];
  if (op === undefined) throw new InvalidInputError('no provider to wrap');
  return op;
}

/**
 * A controller that follows `parent` (so aborting the caller aborts the attempt) but can also be aborted on
 * its own (a timeout); `dispose` removes the listener from the parent, which outlives many attempts.
 */
export function linkedController(parent: AbortSignal): { controller: AbortController; dispose: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) controller.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  return { controller, dispose: () => parent.removeEventListener('abort', onAbort) };
}
