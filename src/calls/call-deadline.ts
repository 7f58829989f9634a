import type { Logger } from 'pino';
import type { OutboundSession } from '../esl/index.js';

/** `uuid_kill <uuid> <cause>` over the daemon's inbound connection, which does not depend on the call's socket. */
export type KillChannel = (uuid: string, cause: string) => Promise<unknown>;

export interface EndChannelOptions {
  session: OutboundSession;
  log: Logger;
  kill: KillChannel | undefined;
  cause: string;
  /** How long the session has to report the hangup before uuid_kill. */
  answerMs: number;
  /** Send `hangup` on the session first (false when the conversation already did). */
  sendHangup: boolean;
}

/**
 * Makes sure the channel is down: `hangup` on the session, then, if no hangup came back within answerMs,
 * `uuid_kill` over the inbound connection. A wedged session queues our hangup behind the app that never
 * completes, so only the inbound side can end the call. Never throws.
 */
export async function ensureChannelDown(o: EndChannelOptions): Promise<void> {
  const { session, log } = o;
  if (session.hangupSignal.aborted || session.closed) return;
  if (o.sendHangup) {
    await session.hangup(o.cause, { timeoutMs: o.answerMs }).catch(() => undefined);
  }
  if (await hungUpWithin(session.hangupSignal, o.answerMs)) return;
  const uuid = session.channel.uniqueId;
  // The uuid goes into an api command line: only what FreeSWITCH's uuids are made of.
  if (o.kill === undefined || !/^[A-Za-z0-9-]{1,64}$/.test(uuid)) {
    log.warn({ cause: o.cause }, 'session did not hang up and cannot be killed: closing the socket');
    return;
  }
  log.warn({ cause: o.cause, answerMs: o.answerMs }, 'session did not hang up: uuid_kill over inbound ESL');
  await o.kill(uuid, o.cause).catch((err: unknown) => log.warn({ err }, 'uuid_kill failed'));
}

export interface CallDeadline {
  /** Whether the deadline passed (and the channel was ended). */
  readonly fired: boolean;
  disarm(): void;
}

/**
 * After `ms`, a call still running is ended from outside the conversation: hangup, uuid_kill if the session
 * does not answer, then the socket is destroyed so every wait on it ends. The conversation then unwinds and
 * writes its row (resolution `timeout`, since its own max_call_seconds timer fired first).
 */
export function armCallDeadline(o: Omit<EndChannelOptions, 'sendHangup'> & { ms: number }): CallDeadline {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
    o.log.warn({ deadlineMs: o.ms }, 'call deadline passed: ending the channel');
    void ensureChannelDown({ ...o, sendHangup: true }).finally(() => o.session.destroy());
  }, o.ms);
  timer.unref();
  return {
    get fired() {
      return fired;
    },
    disarm: () => clearTimeout(timer),
  };
}

function hungUpWithin(signal: AbortSignal, ms: number): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (value: boolean): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => done(true);
    const timer = setTimeout(() => done(false), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
