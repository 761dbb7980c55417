/**
 * Active health checks (CONFIG.md `healthCheck.active`), run in the primary only: one prober per
 * target address for the whole machine, not one per worker. A probe is a GET of `path` with the
 * target's Host header; it is healthy on a 2xx or 3xx answer within `timeoutMs`. A target starts
 * healthy, turns unhealthy after `unhealthyThreshold` failed probes in a row and healthy again
 * after `healthyThreshold` good ones. The result goes into the shared endpoint state, which every
 * worker reads on its request path (no IPC), so a worker that restarts sees the current health at
 * once. Every change is a log line.
 */
import { Agent, request } from 'undici';
import type { GatewayConfig } from '../config/schema.js';
import { log } from '../observability/log.js';
import { HEALTHY, UNHEALTHY, type SharedEndpointState } from '../native/shared-state.js';
import type { ResolvedUpstreams, ResolvedTarget } from './targets.js';
import { loadUpstreamTls, tlsConnectOptions } from '../upstream/tls.js';

export interface ActiveCheck {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

class Probe {
  healthy = true;
  okInRow = 0;
  failedInRow = 0;
  probes = 0;
  lastError = '';
  /** The TLS options its agent was made with ('' = the shared plain agent). */
  tlsKey = '';
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    readonly upstream: string,
    readonly target: ResolvedTarget,
    public check: ActiveCheck,
    public agent: Agent,
    private readonly onResult: (p: Probe, changed: boolean) => void,
  ) {}

  start(): void {
    // Spread the first probes over the interval so that a large config does not probe in bursts.
    this.timer = setTimeout(() => this.tick(), Math.floor(Math.random() * Math.min(this.check.intervalMs, 1000)));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const ok = await this.probe();
    this.running = false;
    if (this.timer === null) return; // stopped meanwhile
    const wasHealthy = this.healthy;
    if (ok) {
      this.okInRow++;
      this.failedInRow = 0;
      if (!this.healthy && this.okInRow >= this.check.healthyThreshold) this.healthy = true;
    } else {
      this.failedInRow++;
      this.okInRow = 0;
      if (this.healthy && this.failedInRow >= this.check.unhealthyThreshold) this.healthy = false;
    }
    this.onResult(this, wasHealthy !== this.healthy);
    this.timer = setTimeout(() => this.tick(), this.check.intervalMs);
    this.timer.unref();
  }

  private async probe(): Promise<boolean> {
    this.probes++;
    try {
      const res = await request(this.target.origin + this.check.path, {
        method: 'GET',
        headers: { host: this.target.hostHeader, 'user-agent': 'gateway-health-check' },
        headersTimeout: this.check.timeoutMs,
        bodyTimeout: this.check.timeoutMs,
        signal: AbortSignal.timeout(this.check.timeoutMs),
        dispatcher: this.agent,
      });
      await res.body.dump();
      this.lastError = res.statusCode >= 200 && res.statusCode < 400 ? '' : `status ${res.statusCode}`;
      return this.lastError === '';
    } catch (err) {
      this.lastError = (err as Error & { code?: string }).code ?? (err as Error).message;
      return false;
    }
  }
}

export class HealthProber {
  readonly #probes = new Map<string, Probe>();
  readonly #agent = new Agent({ keepAliveTimeout: 10_000, connections: 4 });

  constructor(private readonly shared: SharedEndpointState | null) {}

  /** Starts, keeps or stops probers so that every target of an upstream with active checks has one. */
  setTargets(config: GatewayConfig, targets: ResolvedUpstreams): void {
    const keep = new Set<string>();
    for (const [name, up] of Object.entries(config.upstreams)) {
      const active = up.healthCheck?.active;
      if (active === undefined) continue;
      for (const t of targets[name] ?? []) {
        const key = `${name}\u0000${t.origin}\u0000${t.slot}`;
        keep.add(key);
        // An https:// target is probed over the upstream's own TLS settings (re-read on reload).
        const tlsOpts = tlsConnectOptions(t.origin, t.hostHeader, loadUpstreamTls(up.tls));
        const tlsKey = tlsOpts === undefined ? '' : JSON.stringify(tlsOpts);
        const existing = this.#probes.get(key);
        if (existing !== undefined) {
          existing.check = active;
          if (existing.tlsKey !== tlsKey) {
            if (existing.agent !== this.#agent) void existing.agent.close();
            existing.agent = tlsOpts === undefined ? this.#agent : new Agent({ keepAliveTimeout: 10_000, connections: 1, connect: tlsOpts });
            existing.tlsKey = tlsKey;
          }
          continue;
        }
        const agent = tlsOpts === undefined ? this.#agent : new Agent({ keepAliveTimeout: 10_000, connections: 1, connect: tlsOpts });
        const p = new Probe(name, t, active, agent, (probe, changed) => this.#onResult(probe, changed));
        p.tlsKey = tlsKey;
        this.#probes.set(key, p);
        p.start();
      }
    }
    for (const [key, p] of this.#probes) {
      if (keep.has(key)) continue;
      p.stop();
      if (p.agent !== this.#agent) void p.agent.close();
      this.#probes.delete(key);
    }
  }

  #onResult(p: Probe, changed: boolean): void {
    if (p.target.slot >= 0 && this.shared !== null) this.shared.setHealth(p.target.slot, p.healthy ? HEALTHY : UNHEALTHY);
    if (changed) {
      log(p.healthy ? 'info' : 'warn', p.healthy ? 'upstream target is healthy again' : 'upstream target is unhealthy', {
        upstream: p.upstream, target: p.target.url, address: p.target.origin, error: p.lastError || undefined,
      });
    }
  }

  /** Active health per (upstream, origin), for GET /upstreams and metrics; undefined when not probed. */
  healthOf(upstream: string, origin: string): { healthy: boolean; probes: number } | undefined {
    for (const p of this.#probes.values()) if (p.upstream === upstream && p.target.origin === origin) return { healthy: p.healthy, probes: p.probes };
    return undefined;
  }

  stop(): void {
    for (const p of this.#probes.values()) {
      p.stop();
      if (p.agent !== this.#agent) void p.agent.close();
    }
    this.#probes.clear();
    void this.#agent.close();
  }
}
