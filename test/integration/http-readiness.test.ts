import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.js';
import {
  startHttpServer,
  type HttpServer,
  type ReadinessBody,
  type ReadinessFn,
} from '../../src/http/server.js';

const log = pino({ level: 'silent' });
const servers: HttpServer[] = [];

async function start(readiness: ReadinessFn, readinessTimeoutMs = 50): Promise<HttpServer> {
  const server = await startHttpServer({
    port: 0,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness,
    readinessTimeoutMs,
    log,
  });
  servers.push(server);
  return server;
}

async function readyz(server: HttpServer): Promise<{ status: number; body: ReadinessBody }> {
  const res = await fetch(`http://127.0.0.1:${server.port}/readyz`);
  expect(res.headers.get('content-type')).toBe('application/json');
  return { status: res.status, body: (await res.json()) as ReadinessBody };
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const allOk = [
  { name: 'esl', ok: true },
  { name: 'database', ok: true, detail: 'select 1 in 2 ms' },
  { name: 'spool', ok: true },
  { name: 'draining', ok: true },
];

describe('GET /readyz', () => {
  it('is 200 with every check when all pass', async () => {
    const server = await start(async () => ({ checks: allOk }));
    const { status, body } = await readyz(server);
    expect(status).toBe(200);
    expect(body).toEqual({ ready: true, checks: allOk });
  });

  it('accepts a synchronous readiness function', async () => {
    const server = await start(() => ({ checks: allOk }));
    expect((await readyz(server)).status).toBe(200);
  });

  it('is 503 naming the failing check', async () => {
    const checks = allOk.map((c) =>
      c.name === 'database' ? { name: 'database', ok: false, detail: 'ECONNREFUSED' } : c,
    );
    const server = await start(async () => ({ checks }));
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.ready).toBe(false);
    expect(body.checks.filter((c) => !c.ok)).toEqual([
      { name: 'database', ok: false, detail: 'ECONNREFUSED' },
    ]);
    expect(body.checks).toHaveLength(4);
  });

  it('is 503 when the readiness function throws', async () => {
    const server = await start(() => {
      throw new Error('pool exploded');
    });
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.checks).toEqual([{ name: 'readiness', ok: false, detail: 'pool exploded' }]);
  });

  it('is 503 when the readiness function rejects', async () => {
    const server = await start(() => Promise.reject(new Error('select 1 failed')));
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.checks[0]?.detail).toBe('select 1 failed');
  });

  it('is 503 with a timeout detail when the readiness function never answers, and aborts it', async () => {
    let seen: AbortSignal | undefined;
    const server = await start((signal) => {
      seen = signal;
      return new Promise<never>(() => undefined);
    }, 50);
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.ready).toBe(false);
    expect(body.checks[0]?.name).toBe('readiness');
    expect(body.checks[0]?.detail).toMatch(/timeout/);
    expect(body.checks[0]?.detail).toMatch(/50 ms/);
    expect(seen?.aborted).toBe(true);
  });

  it('is 503 when the report is malformed', async () => {
    const server = await start(() => ({}) as never);
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.checks[0]?.detail).toMatch(/no checks/);
  });

  it('treats anything but ok === true as failing', async () => {
    const server = await start(() => ({ checks: [{ name: 'esl', ok: 'yes' as unknown as boolean }] }));
    const { status, body } = await readyz(server);
    expect(status).toBe(503);
    expect(body.checks).toEqual([{ name: 'esl', ok: false }]);
  });
});
