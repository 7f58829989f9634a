import type { Logger } from 'pino';
import { InvalidInputError, ProviderError, isAbort } from '../../core/errors.js';
import type { AnyProvider, ProviderInfo } from '../types.js';
import { combine, type Op } from './combine.js';

export interface FallbackOptions {
  log?: Logger;
}

/**
 * Tries `providers` in order: the next one gets the request when one fails (any failure but an abort)
 * before yielding anything. Output already given cannot be taken back, so a stream that fails midway fails.
 * When all fail, the last error goes up. The combined provider shows the first one's info; `servedBy` tells
 * which one answered last.
 */
export function withFallback<P extends AnyProvider>(providers: readonly P[], opts: FallbackOptions = {}): P {
  const head = providers[0];
  if (head === undefined) throw new InvalidInputError('withFallback needs at least one provider');
  if (providers.length === 1) return head;
  const log = opts.log;
  const onFailure = (failed: ProviderInfo, next: ProviderInfo, err: unknown): void => {
    log?.warn(
      {
        vendor: failed.vendor,
        kind: failed.kind,
        providerUuid: failed.providerUuid,
        status: err instanceof ProviderError ? err.status : undefined,
        next: next.vendor,
        nextProviderUuid: next.providerUuid,
      },
      'provider failed, falling back',
    );
  };
  let served = head.info;
  const onServed = (info: ProviderInfo): void => {
    served = info;
  };
  const combined = combine(providers, head.info, {
    call: (ops, signal) => fallbackCall(ops, signal, onFailure, onServed),
    stream: (ops, signal) => fallbackStream(ops, signal, onFailure, onServed),
  });
  lastServed.set(combined, () => served);
  return combined;
}

const lastServed = new WeakMap<AnyProvider, () => ProviderInfo>();

/**
 * The provider that most recently answered through `provider`: for a fallback chain, the one whose result or
 * first chunk came back (its first until one has); for anything else, `provider.info`. Chains are built per
 * call, so this is the call's own history (what its message rows name).
 */
export function servedBy(provider: AnyProvider): ProviderInfo {
  return lastServed.get(provider)?.() ?? provider.info;
}

type OnFailure = (failed: ProviderInfo, next: ProviderInfo, err: unknown) => void;
type OnServed = (info: ProviderInfo) => void;

async function fallbackCall<T>(
  ops: readonly Op<Promise<T>>[],
  signal: AbortSignal,
  onFailure: OnFailure,
  onServed: OnServed,
) {
  for (let i = 0; ; i++) {
    const op = ops[i];
    if (op === undefined) throw new InvalidInputError('no provider to fall back to');
    try {
      const result = await op.run(signal);
      onServed(op.info);
      return result;
    } catch (err) {
      const next = ops[i + 1];
      if (next === undefined || signal.aborted || isAbort(err)) throw err;
      onFailure(op.info, next.info, err);
    }
  }
}

async function* fallbackStream<T>(
  ops: readonly Op<AsyncIterable<T>>[],
  signal: AbortSignal,
  onFailure: OnFailure,
  onServed: OnServed,
): AsyncGenerator<T> {
  for (let i = 0; ; i++) {
    const op = ops[i];
    if (op === undefined) throw new InvalidInputError('no provider to fall back to');
    let yielded = false;
    try {
      for await (const item of op.run(signal)) {
        if (!yielded) onServed(op.info);
        yielded = true;
        yield item;
      }
      return;
    } catch (err) {
      const next = ops[i + 1];
      if (yielded || next === undefined || signal.aborted || isAbort(err)) throw err;
      onFailure(op.info, next.info, err);
    }
  }
}
