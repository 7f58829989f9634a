import { Agent, request } from 'node:http';
import type { Socket } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/http/metrics.js';
import { startHttpServer, type HttpServer, type HttpServerOptions } from '../../src/http/server.js';

const log = pino({ level: 'silent' });
const servers: HttpServer[] = [];

async function start(opts: Partial<HttpServerOptions> = {}): Promise<HttpServer> {
  const server = await startHttpServer({
    port: 0,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: () => ({ checks: [] }),
    log,
    ...opts,
  });
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('http routes', () => {
  it('binds 127.0.0.1 unless told otherwise', async () => {
    const server = await start();
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).toBeGreaterThan(0);
  });

  it('answers /healthz with 200 ok', async () => {
    const server = await start();
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    expect((await res.text()).trim()).toBe('ok');
  });

  it('ignores the query string', async () => {
    const server = await start();
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz?probe=1`);
    expect(res.status).toBe(200);
  });

  it('answers HEAD with the headers and no body', async () => {
    const server = await start();
    const res = await fetch(`http://127.0.0.1:${server.port}/healthz`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-length')).toBe('3');
    expect(await res.text()).toBe('');
  });

  it('answers unknown paths with 404', async () => {
    const server = await start();
    for (const path of ['/', '/health', '/metrics/x', '/readyz/']) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`);
      expect(res.status, path).toBe(404);
      await res.body?.cancel();
    }
  });

  it('answers other methods on known paths with 405 and Allow', async () => {
    const server = await start();
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`, { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('GET, HEAD');
      await res.body?.cancel();
    }
  });

  it('turns a failing handler into a 500 and keeps serving', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.render = () => Promise.reject(new Error('registry broke'));
    const server = await start({ metrics });
    const bad = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(bad.status).toBe(500);
    await bad.body?.cancel();
    const good = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(good.status).toBe(200);
  });

  it('rejects when the port is taken', async () => {
    const first = await start();
    await expect(startHttpServer({ ...baseOptions(), port: first.port })).rejects.toMatchObject({
      code: 'EADDRINUSE',
    });
  });

  it('close() ends idle keep-alive connections and is idempotent', async () => {
    // A long force timeout: close() must not need it to end an idle keep-alive connection.
    const server = await start({ closeTimeoutMs: 60_000 });
    const agent = new Agent({ keepAlive: true });
    const socket = await new Promise<Socket>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(req.socket as Socket));
      });
      req.on('error', reject);
      req.end();
    });
    const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const first = server.close();
    expect(server.close()).toBe(first);
    await first;
    await socketClosed;
    await server.close();
    agent.destroy();
    await expect(fetch(`http://127.0.0.1:${server.port}/healthz`)).rejects.toThrow();
  });
});

function baseOptions(): HttpServerOptions {
  return {
    port: 0,
    metrics: createMetrics({ defaultMetrics: false }),
    readiness: () => ({ checks: [] }),
    log,
  };
}
