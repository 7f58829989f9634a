import { AbortedError, ProviderError, isAbort } from '../../core/errors.js';

export type FetchFn = typeof globalThis.fetch;

export interface HttpCall {
  vendor: string;
  url: string;
  headers: Record<string, string>;
  /** JSON as a string; multipart as encodeMultipart's bytes (with its content-type in `headers`). */
  body: string | Uint8Array;
  signal: AbortSignal;
  fetch: FetchFn;
  /** Strings scrubbed from every error message (API keys), whatever the vendor echoes back. */
  secrets: readonly string[];
}

/** Enough of an error body for the vendor's message; the rest is dropped. */
const ERROR_BODY_LIMIT = 8192;

/**
 * POSTs and returns the response when it is 2xx. Otherwise throws: AbortedError when `signal` aborted,
 * ProviderError (retryable per the OpenAI SDK policy) for HTTP and network failures. Never leaks `secrets`.
 */
export async function post(call: HttpCall): Promise<Response> {
  let res: Response;
  try {
    res = await call.fetch(call.url, {
      method: 'POST',
      headers: call.headers,
      body: call.body,
      signal: call.signal,
    });
  } catch (err) {
    throw transportError(call, err);
  }
  if (res.ok) return res;
  const body = await readErrorBody(res, call);
  const vendorError = parseVendorError(body);
  const message = `${call.vendor} responded ${res.status}${vendorError.message ? `: ${vendorError.message}` : ''}`;
  const retryAfterMs = parseRetryAfterMs(res.headers);
  throw new ProviderError(call.vendor, scrub(message, call.secrets), {
    status: res.status,
    retryable: isRetryableResponse(res.status, res.headers, vendorError.code),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** The response body as chunks; network failures and aborts become our error types, and early exit cancels. */
export async function* readBody(
  res: Response,
  call: Pick<HttpCall, 'vendor' | 'signal' | 'secrets'>,
): AsyncGenerator<Uint8Array> {
  if (!res.body) return;
  const reader = res.body.getReader();
  try {
    while (true) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw transportError(call, err);
      }
      if (chunk.done) return;
      yield chunk.value as Uint8Array;
    }
  } finally {
    // Releases the connection when the consumer stops early (barge-in); a no-op after the end.
    reader.cancel().catch(() => undefined);
  }
}

/** JSON body of a 2xx response, or a non-retryable ProviderError when it is not JSON. */
export async function readJson(res: Response, call: Pick<HttpCall, 'vendor' | 'signal' | 'secrets'>) {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    throw transportError(call, err);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProviderError(call.vendor, `${call.vendor} sent a response that is not JSON`, {
      status: res.status,
      retryable: false,
    });
  }
}

/** Maps a fetch or body-read failure: an abort stays an abort, anything else is a retryable network error. */
export function transportError(call: Pick<HttpCall, 'vendor' | 'signal' | 'secrets'>, err: unknown): Error {
  if (err instanceof ProviderError || err instanceof AbortedError) return err;
  if (call.signal.aborted || isAbort(err)) {
    return new AbortedError(`${call.vendor} request aborted`, { cause: call.signal.reason });
  }
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  const detail =
    typeof cause?.code === 'string' ? cause.code : err instanceof Error ? err.message : 'unknown';
  return new ProviderError(call.vendor, scrub(`${call.vendor} network error: ${detail}`, call.secrets), {
    retryable: true,
  });
}

/** The SDK policy: `x-should-retry` first, then 408, 409, 429 and 5xx; a spent quota is not worth retrying. */
export function isRetryableResponse(status: number, headers: Headers, vendorCode?: string): boolean {
  const should = headers.get('x-should-retry');
  if (should === 'true') return true;
  if (should === 'false') return false;
  if (status === 429 && vendorCode === 'insufficient_quota') return false;
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** `retry-after-ms`, else `retry-after` as seconds or an HTTP date; undefined when absent or nonsense. */
export function parseRetryAfterMs(headers: Headers, nowMs: number = Date.now()): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.round(n);
  }
  const after = headers.get('retry-after');
  if (after === null || after.trim() === '') return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}

/** OpenAI-shaped `{ error: { message, type, code } }`, or a plain-text body trimmed to one line. */
export function parseVendorError(body: string): { message: string; code?: string; type?: string } {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    const e = parsed.error;
    if (typeof e === 'string') return { message: e };
    if (e && typeof e === 'object') {
      const { message, code, type } = e as { message?: unknown; code?: unknown; type?: unknown };
      return {
        message: typeof message === 'string' ? message : '',
        ...(typeof code === 'string' ? { code } : {}),
        ...(typeof type === 'string' ? { type } : {}),
      };
    }
  } catch {
    // not JSON: fall through to the text
  }
  return { message: body.replace(/\s+/g, ' ').trim().slice(0, 200) };
}

/** Replaces every occurrence of each secret (and a key shape the vendor may echo) with a placeholder. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/\b(?:sk|gsk)[-_][A-Za-z0-9_-]{8,}/g, '[redacted]');
}

async function readErrorBody(res: Response, call: HttpCall): Promise<string> {
  try {
    const text = await res.text();
    return text.slice(0, ERROR_BODY_LIMIT);
  } catch (err) {
    if (call.signal.aborted) throw transportError(call, err);
    return '';
  }
}
