/**
 * Any batch STT as a live one (agents-js `stt/stream_adapter.ts`): frames go through the endpointer, each
 * utterance it ends is transcribed whole, and the transcript comes out as a final end-of-turn event. This is
 * how every configured STT works full duplex; vendors with a native stream (Deepgram) implement `stream`
 * themselves and this is not used for them.
 */
import { ProviderError, isAbort } from '../../core/errors.js';
import { AsyncQueue } from '../../core/async-queue.js';
import { createEndpointer, type EndpointerOptions } from '../../media/endpointer.js';
import type { SttEvent, SttProvider, SttStream, SttStreamOptions } from '../types.js';

/** Utterances waiting for a transcription beyond this are dropped (the caller talked over a stalled STT). */
const MAX_PENDING = 4;

export interface VadStreamOptions {
  /** Endpointer settings other than the rate (endSilenceMs comes from the stream's endpointingMs). */
  endpointer?: Omit<EndpointerOptions, 'sampleRateHz'>;
  /** Told when an utterance is dropped because too many wait for STT. */
  onDrop?: (pending: number) => void;
}

/** `stream` for a provider that only has `transcribe`. */
export function batchSttStream(
  stt: SttProvider,
  opts: SttStreamOptions,
  signal: AbortSignal,
  vad: VadStreamOptions = {},
): SttStream {
  const ep = createEndpointer({
    ...vad.endpointer,
    sampleRateHz: opts.sampleRateHz,
    ...(opts.endpointingMs === undefined ? {} : { endSilenceMs: opts.endpointingMs }),
  });
  const events = new AsyncQueue<SttEvent>();
  const pending: { samples: Int16Array; atMs: number }[] = [];
  let working: Promise<void> | undefined;
  let closing = false;
  let closed = false;
  let resolveDone = (): void => undefined;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const transcribeOpts = {
    ...(opts.language === undefined ? {} : { language: opts.language }),
    ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
  };

  const work = async (): Promise<void> => {
    for (let u = pending.shift(); u !== undefined; u = pending.shift()) {
      const heard = await stt.transcribe(
        { samples: u.samples, sampleRateHz: opts.sampleRateHz },
        transcribeOpts,
        signal,
      );
      events.push({ type: 'final', text: heard.text.trim(), endOfTurn: true, atMs: u.atMs });
    }
  };
  const kick = (): void => {
    if (working !== undefined) return;
    working = work()
      .catch((err: unknown) => {
        if (closed && isAbort(err)) return;
        closed = true;
        pending.length = 0;
        events.fail(
          err instanceof ProviderError || isAbort(err)
            ? err
            : new ProviderError(stt.info.vendor, 'transcription failed', { retryable: false, cause: err }),
        );
      })
      .finally(() => {
        working = undefined;
        if (pending.length > 0 && !closed) kick();
        else if (closing) finish();
      });
  };
  const finish = (): void => {
    closed = true;
    signal.removeEventListener('abort', onAbort);
    events.close();
    resolveDone();
  };
  const onAbort = (): void => {
    pending.length = 0;
    finish();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });

  const take = (frame: Int16Array): void => {
    for (const e of ep.push(frame)) {
      if (e.type === 'speech_start') events.push({ type: 'speech_started', atMs: e.atMs });
      else if (e.type === 'end_of_turn') {
        if (pending.length >= MAX_PENDING) {
          pending.shift();
          vad.onDrop?.(pending.length);
        }
        pending.push({ samples: e.samples, atMs: e.speechEndedAtMs });
        kick();
      }
    }
  };

  return {
    write(frame) {
      if (!closing && !closed) take(frame);
    },
    finalize() {
      // Enough silence to end whatever is being said now.
      if (closing || closed || !ep.inSpeech) return;
      take(
        new Int16Array(
          Math.ceil(((opts.endpointingMs ?? 600) * opts.sampleRateHz) / 1000) + opts.sampleRateHz / 50,
        ),
      );
    },
    events,
    async close() {
      if (closed) return;
      closing = true;
      // What was already said is still transcribed; a stuck STT is cut by the caller's signal.
      if (working === undefined && pending.length === 0) finish();
      await done;
    },
  };
}
