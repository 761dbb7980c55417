/**
 * Upstream targets as addresses (CONFIG.md: "A target URL may name a host instead of an
 * address"). The primary resolves every target once for the machine and tells the workers, so
 * that every worker, the health prober and the shared-memory slots agree on what the targets are:
 *
 *   - an IP literal is one target;
 *   - a name is resolved when the config loads and again in the background, honouring the
 *     records' TTL but at least every 30 s (a name only /etc/hosts knows, like `localhost`, every
 *     30 s); every address is a target of its own with the URL's weight, and keeps the URL's
 *     host:port as its Host header;
 *   - a failed lookup keeps the last good addresses (logged and counted);
 *   - a name that never resolved has no addresses: its requests are 502, not a start-up failure.
 *
 * Each (upstream, address) gets a slot in the shared endpoint state (src/native/shared-state.ts).
 * A slot given up (a target removed, an address gone) is reused only after SLOT_QUARANTINE_MS, so
 * that the in-flight counts of requests still running to the old target drain first.
 */
import { promises as nodeDns } from 'node:dns';
import { isIP } from 'node:net';
import type { GatewayConfig } from '../config/schema.js';
import { log } from '../observability/log.js';

export interface ResolvedTarget {
  /** The URL as configured. */
  readonly url: string;
  /** scheme://address:port, the address the connections go to. */
  readonly origin: string;
  /** The configured host:port: the Host header sent, and the TLS server name. */
  readonly hostHeader: string;
  readonly weight: number;
  /** Slot in the shared endpoint state; -1 when there is none (validate's dry run, tests). */
  readonly slot: number;
}

/** Per upstream name, its targets as addresses. */
export type ResolvedUpstreams = Record<string, ResolvedTarget[]>;

const MIN_REFRESH_MS = 1_000;
const MAX_REFRESH_MS = 30_000;
const SLOT_QUARANTINE_MS = 5 * 60_000;

/** Targets without resolving anything (a name stays a name): for dry runs and tests. */
export function literalTargets(config: GatewayConfig): ResolvedUpstreams {
  const out: ResolvedUpstreams = {};
  for (const [name, up] of Object.entries(config.upstreams)) {
    out[name] = up.targets.map((t) => {
      const u = new URL(t.url);
      return { url: t.url, origin: u.origin, hostHeader: u.host, weight: t.weight, slot: -1 };
    });
  }
  return out;
}

interface Lookup {
  addresses: string[];
  ttlMs: number;
}

/** The lookups the resolver makes (node:dns/promises; a test passes its own). */
export type DnsApi = Pick<typeof nodeDns, 'resolve4' | 'resolve6' | 'lookup'>;

/** Resolves a name to its addresses: DNS records with TTLs, else getaddrinfo (/etc/hosts). */
async function resolveName(dns: DnsApi, host: string): Promise<Lookup> {
  const [v4, v6] = await Promise.allSettled([dns.resolve4(host, { ttl: true }), dns.resolve6(host, { ttl: true })]);
  const records = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (records.length > 0) {
    const ttl = Math.min(...records.map((r) => r.ttl)) * 1000;
    return { addresses: records.map((r) => r.address), ttlMs: Math.min(MAX_REFRESH_MS, Math.max(MIN_REFRESH_MS, ttl)) };
  }
  const found = await dns.lookup(host, { all: true });
  return { addresses: found.map((f) => f.address), ttlMs: MAX_REFRESH_MS };
}

function originFor(u: URL, address: string): string {
  const host = isIP(address) === 6 ? `[${address}]` : address;
  const port = u.port || (u.protocol === 'https:' ? '443' : '80');
  return `${u.protocol}//${host}:${port}`;
}

/** Which slot each (upstream, origin) has, reusing freed slots only after a quarantine. */
export class SlotTable {
  readonly #slots = new Map<string, number>();
  readonly #free: number[] = [];
  readonly #quarantine: Array<{ slot: number; until: number }> = [];
  #next = 0;

  constructor(readonly capacity: number, private readonly onAssign: (slot: number) => void = () => {}) {}

  slotFor(key: string): number {
    let s = this.#slots.get(key);
    if (s !== undefined) return s;
    const now = Date.now();
    while (this.#quarantine.length > 0 && this.#quarantine[0].until <= now) this.#free.push(this.#quarantine.shift()!.slot);
    s = this.#free.length > 0 ? this.#free.pop()! : this.#next < this.capacity ? this.#next++ : -1;
    if (s === -1) {
      log('error', 'no shared-state slot left for an upstream target; it is balanced without machine-wide counts', { key, capacity: this.capacity });
      return -1;
    }
    this.onAssign(s);
    this.#slots.set(key, s);
    return s;
  }

  /** Keeps only the keys in use; the others' slots go into quarantine. */
  retain(keys: ReadonlySet<string>): void {
    for (const [key, slot] of this.#slots) {
      if (keys.has(key)) continue;
      this.#slots.delete(key);
      this.#quarantine.push({ slot, until: Date.now() + SLOT_QUARANTINE_MS });
    }
  }
}

/**
 * Resolves the targets of the config in force, keeps them fresh, and reports changes. One per
 * primary; `setConfig` on every accepted config.
 */
export class TargetResolver {
  #config: GatewayConfig | null = null;
  /** Last good addresses per host name. */
  readonly #cache = new Map<string, Lookup & { at: number }>();
  #timer: NodeJS.Timeout | null = null;
  #current: ResolvedUpstreams = {};
  /** Lookups that failed (and kept the last good addresses), for metrics. */
  failures = 0;

  constructor(
    private readonly slots: SlotTable | null,
    private readonly onChange: (targets: ResolvedUpstreams) => void,
    private readonly dns: DnsApi = nodeDns,
  ) {}

  get current(): ResolvedUpstreams {
    return this.#current;
  }

  /** Resolves every name of `config` (names already known are reused), then keeps them fresh. */
  async setConfig(config: GatewayConfig): Promise<ResolvedUpstreams> {
    this.#config = config;
    await this.#resolveAll(false);
    this.#current = this.#build();
    this.#schedule();
    return this.#current;
  }

  stop(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #names(): Set<string> {
    const names = new Set<string>();
    for (const up of Object.values(this.#config?.upstreams ?? {})) {
      for (const t of up.targets) {
        const h = new URL(t.url).hostname.replace(/^\[|\]$/g, '');
        if (isIP(h) === 0) names.add(h);
      }
    }
    return names;
  }

  /**
   * Looks up the names that need it: at a (re)load the ones not known yet; at a refresh the ones
   * whose TTL ran out. True when some name's addresses changed.
   */
  async #resolveAll(refresh: boolean): Promise<boolean> {
    let changed = false;
    const now = Date.now();
    const due = [...this.#names()].filter((name) => {
      const known = this.#cache.get(name);
      return known === undefined || (refresh && now - known.at >= known.ttlMs);
    });
    await Promise.all(
      due.map(async (name) => {
        const known = this.#cache.get(name);
        try {
          const r = await resolveName(this.dns, name);
          if (r.addresses.length === 0) throw new Error('no addresses');
          this.#cache.set(name, { ...r, at: Date.now() });
          if (known?.addresses.join(',') !== r.addresses.join(',')) {
            changed = true;
            if (known !== undefined) log('info', 'upstream host name resolves to other addresses now', { host: name, addresses: r.addresses, before: known.addresses });
          }
        } catch (err) {
          this.failures++;
          if (known !== undefined) {
            // Keep the last good addresses; try again in 5 s.
            this.#cache.set(name, { ...known, at: Date.now() - known.ttlMs + 5_000 });
            log('warn', 'upstream host name lookup failed; keeping its last addresses', { host: name, error: (err as Error).message, addresses: known.addresses });
          } else {
            log('warn', 'upstream host name does not resolve; its requests are answered 502 until it does', { host: name, error: (err as Error).message });
          }
        }
      }),
    );
    return changed;
  }

  #build(): ResolvedUpstreams {
    const out: ResolvedUpstreams = {};
    const keys = new Set<string>();
    for (const [name, up] of Object.entries(this.#config?.upstreams ?? {})) {
      const list: ResolvedTarget[] = [];
      for (const t of up.targets) {
        const u = new URL(t.url);
        const h = u.hostname.replace(/^\[|\]$/g, '');
        const addresses = isIP(h) !== 0 ? [h] : this.#cache.get(h)?.addresses ?? [];
        for (const a of addresses) {
          const origin = originFor(u, a);
          const key = `${name}\u0000${origin}`;
          keys.add(key);
          list.push({ url: t.url, origin, hostHeader: u.host, weight: t.weight, slot: this.slots?.slotFor(key) ?? -1 });
        }
      }
      out[name] = list;
    }
    this.slots?.retain(keys);
    return out;
  }

  #schedule(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#names().size === 0) return;
    let next = MAX_REFRESH_MS;
    const now = Date.now();
    for (const name of this.#names()) {
      const c = this.#cache.get(name);
      next = Math.min(next, c === undefined ? MIN_REFRESH_MS * 5 : Math.max(MIN_REFRESH_MS, c.at + c.ttlMs - now));
    }
    this.#timer = setTimeout(() => void this.#refresh(), next);
    this.#timer.unref();
  }

  async #refresh(): Promise<void> {
    const changed = await this.#resolveAll(true);
    if (changed) {
      this.#current = this.#build();
      this.onChange(this.#current);
    }
    this.#schedule();
  }
}
