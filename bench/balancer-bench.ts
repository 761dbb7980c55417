/**
 * Balancer micro-benchmark: picks per second of each balancer over 4 members, through
 * Cluster.pick (the predicate and the context as the proxy uses them), with 16 requests kept in
 * flight (each pick increments its endpoint's in-flight count and ends the oldest outstanding
 * one), so least-connections and p2c-ewma see changing loads. Client addresses and cookies cycle
 * through 1,024 distinct values. The p2c-ewma "pick + report" row also reports every ending
 * request's outcome (the EWMA update), as the proxy does.
 *
 * Two more rows measure the success path of one request through the cluster with the resilience
 * features off and on (retries + circuit breaker + passive health, as the load suite's
 * `resilience-on` scenario configures them): maxPending check, pick, the retry budget's first
 * attempt, begin, the retryable-status check at the response head, end (breaker window, outlier
 * reset). Their difference is the in-process share of what `resilience-on` costs over `proxy`.
 *
 *   npm run build && node dist/bench/balancer-bench.js [--json]
 *   import { runBalancerBench } from './balancer-bench.js'   (the load suite's micro section)
 */
import { pathToFileURL } from 'node:url';
import type { Balancer } from '../src/config/schema.js';
import type { DispatcherStats, UpstreamDispatcher } from '../src/upstream/dispatch.js';
import { Endpoint } from '../src/upstream/endpoint.js';
import { CircuitBreaker } from '../src/upstream/breaker.js';
import { Cluster, NO_RESILIENCE, type ClusterResilience, type Member, type PickContext } from '../src/upstream/cluster.js';
import { createBalancer } from '../src/upstream/lb/index.js';
import { RetryPolicy } from '../src/upstream/retry.js';

export interface BalancerBenchOptions {
  /** Timed rounds per case; the median is reported (default 5). */
  rounds?: number;
  /** Duration of one round, ms (default 300). */
  roundMs?: number;
}

export interface BalancerBenchRow {
  case: string;
  picksPerSec: number;
  nsPerPick: number;
}

export interface BalancerBenchResult {
  node: string;
  members: number;
  inflight: number;
  rows: BalancerBenchRow[];
}

const dummy: UpstreamDispatcher = {
  dispatch() {},
  get stats(): DispatcherStats {
    return { connections: 0, active: 0, queued: 0, stuck: 0 };
  },
  close: async () => {},
};

class Ctx implements PickContext {
  clientIp = '';
  consumerId: string | null = null;
  attempt = 0;
  cookie = '';
  header(name: string): string | undefined {
    return name === 'cookie' ? this.cookie : undefined;
  }
  shouldSkip(ep: Endpoint): boolean {
    void ep;
    return false;
  }
}

interface Case {
  name: string;
  kind: Balancer;
  weights: number[];
  hashOn?: string;
  report?: boolean;
}

const CASES: Case[] = [
  { name: 'round-robin', kind: 'round-robin', weights: [1, 1, 1, 1] },
  { name: 'round-robin, weights 5,1,1,1 (SWRR)', kind: 'round-robin', weights: [5, 1, 1, 1] },
  { name: 'least-connections', kind: 'least-connections', weights: [1, 1, 1, 1] },
  { name: 'least-connections, weights 3,1,1,1', kind: 'least-connections', weights: [3, 1, 1, 1] },
  { name: 'consistent-hash ip', kind: 'consistent-hash', weights: [1, 1, 1, 1], hashOn: 'ip' },
  { name: 'consistent-hash cookie:sid', kind: 'consistent-hash', weights: [1, 1, 1, 1], hashOn: 'cookie:sid' },
  { name: 'p2c-ewma', kind: 'p2c-ewma', weights: [1, 1, 1, 1] },
  { name: 'p2c-ewma, pick + report', kind: 'p2c-ewma', weights: [1, 1, 1, 1], report: true },
];

const INFLIGHT = 16;
const KEYS = 1024;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function runCase(c: Case, opts: Required<BalancerBenchOptions>): number {
  const members: Member[] = c.weights.map((weight, index) => ({
    endpoint: new Endpoint(`k${index}`, 'bench', `http://10.0.0.${index + 1}:8080`, `10.0.0.${index + 1}:8080`, -1, dummy),
    weight,
    index,
  }));
  const cluster = new Cluster('bench', members, createBalancer(c.kind, members, { hashOn: c.hashOn }));
  for (const m of members) cluster.report(m.endpoint, 'response', 200, 1000 + 300 * m.index);
  const ips = Array.from({ length: KEYS }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);
  const cookies = ips.map((ip, i) => `theme=dark; sid=${(i * 2654435761) >>> 0}; lang=en`);
  const ctx = new Ctx();
  const ring: Array<Endpoint | null> = new Array(INFLIGHT).fill(null);
  let slot = 0;
  let sink = 0;
  const report = c.report === true;
  const batch = (count: number, from: number): void => {
    for (let i = 0; i < count; i++) {
      const k = (from + i) & (KEYS - 1);
      ctx.clientIp = ips[k];
      ctx.cookie = cookies[k];
      const ep = cluster.pick(ctx);
      if (ep === null) continue;
      ep.inflight++;
      const old = ring[slot];
      if (old !== null) {
        old.inflight--;
        if (report) cluster.report(old, 'response', 200, 1500);
      }
      ring[slot] = ep;
      slot = slot + 1 === INFLIGHT ? 0 : slot + 1;
      sink += ep.inflight;
    }
  };
  const timed = (ms: number): number => {
    let n = 0;
    const start = performance.now();
    let now = start;
    do {
      batch(1000, n);
      n += 1000;
      now = performance.now();
    } while (now - start < ms);
    return (n * 1000) / (now - start);
  };
  timed(Math.min(300, opts.roundMs)); // warm-up (JIT)
  const rs: number[] = [];
  for (let r = 0; r < opts.rounds; r++) rs.push(timed(opts.roundMs));
  if (sink === -1) console.log(sink);
  return median(rs);
}

/** One request's success path through a 1-target round-robin cluster, resilience off or on; requests/s. */
function runSuccessPath(on: boolean, opts: Required<BalancerBenchOptions>): number {
  const ep = new Endpoint('k0', 'bench', 'http://10.0.0.1:8080', '10.0.0.1:8080', -1, dummy);
  const members: Member[] = [{ endpoint: ep, weight: 1, index: 0 }];
  const breaker = { failureRatio: 0.5, minRequests: 20, windowMs: 10_000, openMs: 5000 };
  const resilience: ClusterResilience = on
    ? {
        shared: null,
        worker: 0,
        activeHealth: false,
        passive: { consecutiveFailures: 5, ejectMs: 10_000 },
        breaker,
        maxPending: 1024,
        retry: new RetryPolicy({ attempts: 1, on: ['connect-failure', 'reset', '502', '503', '504'], idempotentOnly: true, budgetPercent: 20 }),
      }
    : NO_RESILIENCE;
  if (on) ep.breaker = new CircuitBreaker(breaker);
  const cluster = new Cluster('bench', members, createBalancer('round-robin', members, {}), resilience);
  const ctx = new Ctx();
  ctx.clientIp = '10.0.0.9';
  let sink = 0;
  const batch = (count: number): void => {
    for (let i = 0; i < count; i++) {
      if (cluster.busy) continue;
      const e = cluster.pick(ctx);
      if (e === null) continue;
      const dispatchedAt = performance.now(); // the proxy reads the clock here either way
      cluster.resilience.retry?.budget.firstAttempt(dispatchedAt);
      cluster.begin(e);
      const policy = cluster.resilience.retry;
      if (policy !== null && policy.statusReason(200, 'GET') !== null) sink++;
      cluster.end(e, 'response', 200, 900);
      sink += e.inflight;
    }
  };
  const timed = (ms: number): number => {
    let n = 0;
    const start = performance.now();
    let now = start;
    do {
      batch(1000);
      n += 1000;
      now = performance.now();
    } while (now - start < ms);
    return (n * 1000) / (now - start);
  };
  timed(Math.min(300, opts.roundMs));
  const rs: number[] = [];
  for (let r = 0; r < opts.rounds; r++) rs.push(timed(opts.roundMs));
  if (sink === -1) console.log(sink);
  return median(rs);
}

export function runBalancerBench(options: BalancerBenchOptions = {}): BalancerBenchResult {
  const opts: Required<BalancerBenchOptions> = { rounds: options.rounds ?? 5, roundMs: options.roundMs ?? 300 };
  const rows = CASES.map((c) => {
    const picksPerSec = runCase(c, opts);
    return { case: c.name, picksPerSec, nsPerPick: 1e9 / picksPerSec };
  });
  for (const on of [false, true]) {
    const perSec = runSuccessPath(on, opts);
    rows.push({ case: `success path, 1 target, resilience ${on ? 'on' : 'off'}`, picksPerSec: perSec, nsPerPick: 1e9 / perSec });
  }
  return { node: process.version, members: 4, inflight: INFLIGHT, rows };
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0);
}

export function formatBalancerBench(r: BalancerBenchResult): string {
  const lines = [
    `balancer bench: ${r.members} members, ${r.inflight} requests in flight, through Cluster.pick, node ${r.node}`,
    '',
    'case                                      picks/s   ns/pick',
    '----------------------------------------  --------  -------',
  ];
  for (const row of r.rows) lines.push(`${row.case.padEnd(40)}  ${fmt(row.picksPerSec).padStart(8)}  ${row.nsPerPick.toFixed(0).padStart(7)}`);
  const off = r.rows.find((x) => x.case.endsWith('resilience off'));
  const on = r.rows.find((x) => x.case.endsWith('resilience on'));
  if (off && on) lines.push('', `resilience on − off: ${(on.nsPerPick - off.nsPerPick).toFixed(0)} ns per request in the cluster (the in-process share of resilience-on − proxy)`);
  return lines.join('\n');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = runBalancerBench();
  console.log(process.argv.includes('--json') ? JSON.stringify(result, null, 2) : formatBalancerBench(result));
}
