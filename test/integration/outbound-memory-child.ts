/**
 * The daemon's outbound socket server alone in a process, so its memory can be measured without the test
 * runner's: configured by loadConfig from the environment (VOICE_AI_OUTBOUND_*), rejections counted in the
 * daemon's metrics. Talks over IPC: sends `{ type: 'ready', port, rssBytes }`, answers `{ type: 'report' }`
 * with `{ type: 'report', peakRssBytes, rejected, sessions, bufferedBytes }`. Logs (JSON) go to stderr.
 *
 * usage: fork('outbound-memory-child.ts', { execArgv: ['--import', 'tsx'], env: { VOICE_AI_OUTBOUND_PORT: '0', ... } })
 */
import { once } from 'node:events';
import pino from 'pino';
import { loadConfig } from '../../src/config.js';
import { createOutboundServer } from '../../src/esl/outbound.js';
import { createMetrics } from '../../src/http/metrics.js';

const send = (message: object): void => void process.send?.(message);
const config = loadConfig(process.env);
const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }));
const metrics = createMetrics({ defaultMetrics: false });
const server = await createOutboundServer({
  host: config.outbound.host,
  port: config.outbound.port,
  log,
  maxConnections: config.outbound.maxConnections,
  maxHandshakes: config.outbound.maxHandshakes,
  maxFrameBytes: config.outbound.maxFrameBytes,
  bufferBudgetBytes: config.outbound.bufferBudgetBytes,
  handshakeTimeoutMs: config.outbound.handshakeTimeoutMs,
  onReject: (reason) => metrics.outboundRejected(reason),
  onSession: async (session) => {
    await once(session.hangupSignal, 'abort');
  },
});

/** The rejected counter by reason, read back from the exposition text as /metrics would serve it. */
async function rejected(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const text = await metrics.render();
  for (const m of text.matchAll(/^voice_ai_outbound_rejected_total\{reason="([a-z_]+)"\} (\d+)$/gm))
    out[m[1] ?? ''] = Number(m[2]);
  return out;
}

process.on('message', (message: { type?: string }) => {
  if (message.type !== 'report') return;
  void rejected().then((counts) =>
    send({
      type: 'report',
      // getrusage's high-water mark: the peak is caught however briefly it lasted, no sampling involved.
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      rejected: counts,
      sessions: server.sessions,
      bufferedBytes: server.bufferedBytes,
    }),
  );
});
process.once('disconnect', () => server.destroy());
send({ type: 'ready', port: server.port, rssBytes: process.memoryUsage().rss });
