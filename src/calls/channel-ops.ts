import { CallHangupError } from '../core/errors.js';
import type { OutboundSession } from '../esl/index.js';

/**
 * Waits for a `transfer` execute. The transfer takes the channel out of our socket, so the session ending
 * while it runs (CallHangupError) is the success case; any other failure is rethrown.
 */
export async function awaitTransfer(execute: Promise<unknown>): Promise<void> {
  try {
    await execute;
  } catch (err) {
    if (!(err instanceof CallHangupError)) throw err;
  }
}

/** Hangs the call up; a failure because the call is already down is not one. */
export async function hangupSession(session: OutboundSession, cause: string): Promise<void> {
  try {
    await session.hangup(cause);
  } catch (err) {
    if (!session.hangupSignal.aborted) throw err;
  }
}
