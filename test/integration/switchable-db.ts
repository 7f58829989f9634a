/**
 * A postgres.js client on the test database whose network can be cut: while `down`, every new connection is
 * refused (a real ECONNREFUSED from a port nobody listens on), as when PostgreSQL is unreachable.
 */
import net from 'node:net';
import postgres from 'postgres';
import { freePort } from '../../src/store/embedded.js';

export interface SwitchableDb {
  sql: postgres.Sql;
  down: boolean;
}

export async function switchableDb(url: string, down: boolean): Promise<SwitchableDb> {
  const real = new URL(url);
  const deadPort = await freePort();
  // `socket` is a documented postgres.js option its type declarations leave out.
  const options = {
    max: 2,
    connect_timeout: 2,
    // postgres.js waits up to 20 s between attempts after many refusals; the test switches it back at once.
    backoff: () => 0.05,
    onnotice: () => undefined,
    // Handed over unconnected: a refusal then arrives as the socket's error and close, which postgres.js
    // retries (a rejected promise here would leave the connection stuck for good).
    socket: () => net.connect(db.down ? deadPort : Number(real.port), real.hostname),
  };
  const db: SwitchableDb = { down, sql: postgres(url, options) };
  return db;
}
