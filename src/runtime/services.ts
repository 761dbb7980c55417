/**
 * The services plugins use (src/plugins/api.ts Service), with their lifetimes:
 *   - 'process': one value per process (per ServiceHost), made on first use and remade when
 *     the service's key changes (the old value disposed); or provided by the owner (the
 *     primary provides the token-bucket table it created);
 *   - 'version': one value per VersionScope, i.e. per compiled config version, disposed when
 *     that version is retired (the worker retires the old scope once the new config is in
 *     force; a dry run retires its scope at once).
 */
import type { Service, ServiceContext, ServiceRole } from '../plugins/api.js';
import type { GatewayConfig } from '../config/schema.js';
import { log } from '../observability/log.js';

interface ProcessEntry {
  key: string;
  value: unknown;
  provided: boolean;
}

function safeDispose<T>(s: Service<T>, value: T): void {
  try {
    s.dispose?.(value);
  } catch (err) {
    log('warn', 'a service failed to dispose', { service: s.name, error: (err as Error).message });
  }
}

export class ServiceHost {
  readonly #process = new Map<Service<unknown>, ProcessEntry>();

  constructor(readonly role: ServiceRole) {}

  /** A 'process' service whose value the caller owns (and disposes). */
  provide<T>(s: Service<T>, value: T): void {
    this.#process.set(s as Service<unknown>, { key: '', value, provided: true });
  }

  /** Forgets a provided value (its owner closed it). */
  withdraw<T>(s: Service<T>): void {
    this.#process.delete(s as Service<unknown>);
  }

  /** The services of one config version. */
  scope(config: GatewayConfig): VersionScope {
    const cluster = config.cluster !== undefined ? { redis: config.cluster.redis, keyPrefix: config.cluster.keyPrefix } : null;
    return new VersionScope(this, { role: this.role, cluster });
  }

  /** @internal VersionScope.use for 'process' services. */
  processValue<T>(s: Service<T>, ctx: ServiceContext): T {
    const key = s.key !== undefined ? s.key(ctx) : '';
    const e = this.#process.get(s as Service<unknown>);
    if (e !== undefined && (e.provided || e.key === key)) return e.value as T;
    if (e !== undefined) safeDispose(s, e.value as T);
    const value = s.create(ctx);
    this.#process.set(s as Service<unknown>, { key, value, provided: false });
    return value;
  }

  /** Disposes every process service this host made (drain). */
  disposeAll(): void {
    for (const [s, e] of this.#process) if (!e.provided) safeDispose(s, e.value);
    this.#process.clear();
  }
}

export class VersionScope {
  readonly #version = new Map<Service<unknown>, unknown>();
  #retired = false;

  constructor(
    readonly host: ServiceHost,
    readonly ctx: ServiceContext,
  ) {}

  use<T>(s: Service<T>): T {
    if (s.lifetime === 'process') return this.host.processValue(s, this.ctx);
    if (this.#retired) throw new Error(`service "${s.name}" used after its config version was retired`);
    if (this.#version.has(s as Service<unknown>)) return this.#version.get(s as Service<unknown>) as T;
    const value = s.create(this.ctx);
    this.#version.set(s as Service<unknown>, value);
    return value;
  }

  /** The config version is no longer in force: its 'version' services are disposed. */
  retire(): void {
    if (this.#retired) return;
    this.#retired = true;
    for (const [s, v] of this.#version) safeDispose(s, v);
    this.#version.clear();
  }
}
