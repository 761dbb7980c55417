/**
 * autocannon in its own process (so its CPU is measured apart from the harness):
 * `node dist/bench/loadgen-autocannon.js '<LoadSpec JSON>'` prints `BENCH-RESULT {...}`.
 * Latency is taken from every response event, in microseconds (autocannon's own histogram
 * records whole milliseconds).
 */
import autocannon from 'autocannon';
import { encode, newHistogram } from './histogram.js';
import type { ChildResult, LoadSpec } from './loadgen.js';

const spec = JSON.parse(process.argv[2]) as LoadSpec;
const hist = newHistogram();
let responses = 0;
let non2xx = 0;

function keyHeaderSetup(k: { name: string; count: number }) {
  let n = 0;
  return (req: { headers?: Record<string, string> }) => {
    n = (n % k.count) + 1;
    return { ...req, headers: { ...req.headers, [k.name]: `user-${n}` } };
  };
}

const started = process.hrtime.bigint();
const instance = autocannon(
  {
    url: `http://127.0.0.1:${spec.port}${spec.path}`,
    method: spec.method,
    headers: spec.headers,
    body: spec.bodyBytes > 0 ? Buffer.alloc(spec.bodyBytes, 'x') : undefined,
    connections: spec.connections,
    duration: spec.durationS,
    timeout: spec.timeoutS,
    pipelining: 1,
    // A header cycling per request (the lb-* scenarios: consistent-hash keys), like bench/wrk-x-user.lua.
    ...(spec.keyHeader ? { requests: [{ setupRequest: keyHeaderSetup(spec.keyHeader) }] } : {}),
  },
  (err, result) => {
    const durationS = Number(process.hrtime.bigint() - started) / 1e9;
    if (err) {
      process.stderr.write(`autocannon: ${err.message}\n`);
      process.exit(1);
    }
    const out: ChildResult = {
      requests: responses,
      durationS: typeof result.duration === 'number' && result.duration > 0 ? result.duration : durationS,
      errors: result.errors,
      errorDetail: { errors: result.errors - result.timeouts, timeout: result.timeouts, resets: result.resets ?? 0 },
      non2xx,
      hist: encode(hist),
    };
    process.stdout.write(`BENCH-RESULT ${JSON.stringify(out)}\n`);
    process.exit(0);
  },
);

instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTimeMs: number) => {
  responses++;
  if (statusCode < 200 || statusCode > 299) non2xx++;
  hist.recordValue(Math.max(1, Math.round(responseTimeMs * 1000)));
});

process.on('SIGTERM', () => instance.stop());
process.on('SIGINT', () => instance.stop());
