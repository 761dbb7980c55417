/** Upstreams: names, target URLs, settings that have no effect; references to them from routes. */
import { escapePointer, isObject } from '../util.js';
import { didYouMean } from '../report.js';
import { arr, obj, str, type CheckContext } from './context.js';

const UPSTREAM_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

export function checkUpstreams(k: CheckContext): void {
  const upstreams = obj(k.c.upstreams);
  const originalUpstreams = obj(k.original.upstreams);
  for (const name of Object.keys(upstreams)) {
    const p = `/upstreams/${escapePointer(name)}`;
    if (!UPSTREAM_NAME.test(name)) {
      k.err(p, `invalid upstream name ${JSON.stringify(name)}: use letters, digits, "_", "-" and "." (not starting with "-" or ".")`);
    }
    const up = upstreams[name];
    if (!isObject(up)) continue;
    const seenTargets = new Map<string, number>();
    arr(up.targets).forEach((t, i) => {
      if (!isObject(t) || !str(t.url) || !/^https?:\/\/[^/?#]+\/?$/.test(t.url)) return;
      const tp = `${p}/targets/${i}/url`;
      let url: URL | null = null;
      try {
        url = new URL(t.url);
      } catch {
        k.err(tp, `invalid URL ${k.show(tp, t.url)}`);
        return;
      }
      if (url.protocol === 'https:' && up.engine === 'native') {
        k.err(`${p}/engine`, `the native engine speaks http:// only, and ${p}/targets/${i} is https://: use "engine": "undici" for TLS upstreams (docs/upstream-engine.md)`);
      }
      if (url.username || url.password || t.url.includes('@')) k.err(tp, 'credentials in target URLs are not supported');
      else if (url.hostname === '') k.err(tp, 'the URL has no host');
      const key = url.origin;
      if (seenTargets.has(key)) k.warn(tp, `same target as ${p}/targets/${seenTargets.get(key)}`);
      seenTargets.set(key, i);
    });
    const orig = originalUpstreams[name];
    if (isObject(orig) && orig.hashOn !== undefined && up.balancer !== 'consistent-hash') {
      k.warn(`${p}/hashOn`, `ignored: hashOn only applies to the "consistent-hash" balancer (balancer is ${k.show(`${p}/balancer`, up.balancer)})`);
    }
    const tls = up.tls;
    if (isObject(tls)) {
      if ((tls.certFile === undefined) !== (tls.keyFile === undefined)) {
        k.err(`${p}/tls`, tls.certFile === undefined ? 'keyFile needs certFile (the client certificate it belongs to)' : 'certFile needs keyFile (its private key)');
      }
      if (!arr(up.targets).some((t) => isObject(t) && str(t.url) && t.url.startsWith('https://'))) {
        k.err(`${p}/tls`, 'has no effect: no target of this upstream is https://');
      }
      if (tls.verify === false) k.warn(`${p}/tls/verify`, 'is false: the targets\' certificates are not checked (anyone on the path can impersonate them)');
    }
    const active = isObject(up.healthCheck) ? up.healthCheck.active : undefined;
    if (isObject(active) && typeof active.timeoutMs === 'number' && typeof active.intervalMs === 'number' && active.timeoutMs > active.intervalMs) {
      k.warn(`${p}/healthCheck/active/timeoutMs`, 'is longer than intervalMs: probes will overlap');
    }
  }
}

/** A reference to an upstream by name (routes, split, mirror, aggregate backends). */
export function checkUpstreamRef(k: CheckContext, pointer: string, name: unknown): void {
  if (!str(name)) return;
  k.usedUpstreams.add(name);
  const upstreams = obj(k.c.upstreams);
  const names = Object.keys(upstreams);
  if (names.length === 0) return; // "/upstreams: must not be empty" says it all
  if (!Object.prototype.hasOwnProperty.call(upstreams, name)) {
    const known = [...names].sort().join(', ');
    k.err(pointer, `unknown upstream ${k.show(pointer, name)} (known: ${known})${didYouMean(name, names)}`);
  }
}

/** Run after the route checks: upstreams no route uses. */
export function warnUnusedUpstreams(k: CheckContext): void {
  for (const name of Object.keys(obj(k.c.upstreams))) {
    if (!k.usedUpstreams.has(name)) k.warn(`/upstreams/${escapePointer(name)}`, 'is not used by any route');
  }
}
