/**
 * The "popular Node proxy" peer for --with-peer: fastify 5 + @fastify/http-proxy 11 (undici pool
 * to the upstream), one process per worker under node:cluster. Node 20 has no SO_REUSEPORT in
 * net, so the workers share one listening socket (SCHED_NONE: the kernel hands out connections,
 * no hop through the primary).
 *
 * `node dist/bench/contenders/peer-server.js --port P --upstream URL --workers N --pool K`;
 * prints READY on stdout once every worker listens.
 */
import cluster from 'node:cluster';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    upstream: { type: 'string' },
    workers: { type: 'string', default: '2' },
    pool: { type: 'string', default: '128' },
  },
});

const workers = Number(values.workers);

if (cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let listening = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', () => {
    if (++listening === workers) process.stdout.write(`READY ${JSON.stringify({ port: Number(values.port), pid: process.pid })}\n`);
  });
  cluster.on('exit', (w, code, signal) => {
    if (!stopping) {
      process.stderr.write(`peer worker ${w.process.pid} died (${code ?? signal})\n`);
      process.exit(1);
    }
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2000).unref();
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  const { default: Fastify } = await import('fastify');
  const { default: proxy } = await import('@fastify/http-proxy');
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024, keepAliveTimeout: 120_000 });
  await app.register(proxy, {
    upstream: String(values.upstream),
    undici: { connections: Number(values.pool), pipelining: 1, keepAliveTimeout: 120_000 },
  });
  await app.listen({ host: '127.0.0.1', port: Number(values.port) });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
