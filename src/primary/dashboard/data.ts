/**
 * GET /dashboard/data: what the dashboard page shows, as one JSON document (polled every
 * second, token-protected). Route ids, paths, hosts and upstream names are the operator's own
 * text: the page renders them as text, never as markup. No value the config marks secret is
 * here (header values of matches and responses are left out; the rest is what GET /upstreams
 * and GET /config already show).
 */
import type { RouteConfig } from '../../config/schema.js';
import type { Supervisor } from '../supervisor.js';
import type { UpstreamStatus } from '../upstream-status.js';
import type { LiveStats, RouteLive } from '../live-stats.js';

export interface DashboardRoute extends RouteLive {
  id: string;
  hosts: string[] | null;
  methods: string[] | null;
  paths: string[];
  /** What answers it: an upstream (with its canary splits), a direct answer, or an aggregation. */
  action: { kind: 'upstream'; upstream: string; split: Array<{ upstream: string; weight: number }> } | { kind: 'respond'; status: number } | { kind: 'aggregate'; upstreams: string[] };
}

export interface DashboardData {
  generatedAt: string;
  windowSeconds: number;
  config: { version: number; loadedAt: string; source: string; hash: string };
  workers: { ready: number; total: number };
  total: RouteLive;
  routes: DashboardRoute[];
  /** Requests no route matched (404s and refused request heads). */
  unmatched: RouteLive;
  upstreams: Record<string, UpstreamStatus>;
}

const IDLE: RouteLive = { requests: 0, rps: 0, errorRate: null, p99Ms: null };

function actionOf(r: RouteConfig): DashboardRoute['action'] {
  if (r.respond !== undefined) return { kind: 'respond', status: r.respond.status };
  if (r.aggregate !== undefined) return { kind: 'aggregate', upstreams: r.aggregate.backends.map((b) => b.upstream) };
  return { kind: 'upstream', upstream: r.upstream ?? '', split: (r.split ?? []).map((s) => ({ upstream: s.upstream, weight: s.weight })) };
}

export function dashboardData(sup: Supervisor, live: LiveStats): DashboardData {
  const w = live.window();
  return {
    generatedAt: new Date().toISOString(),
    windowSeconds: w.seconds,
    config: { version: sup.version, loadedAt: new Date(sup.loaded.at).toISOString(), source: sup.loaded.source, hash: sup.configHash },
    workers: { ready: sup.slots.filter((s) => s.ready).length, total: sup.slots.length },
    total: w.total,
    routes: sup.config.routes.map((r) => ({
      id: r.id,
      hosts: r.hosts ?? null,
      methods: r.methods ?? null,
      paths: r.paths,
      action: actionOf(r),
      ...(w.routes.get(r.id) ?? IDLE),
    })),
    unmatched: w.routes.get('') ?? IDLE,
    upstreams: sup.upstreamStatus(),
  };
}
