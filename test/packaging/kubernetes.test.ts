/**
 * packaging/kubernetes/: every manifest is parsed (yaml) and checked against the Kubernetes API
 * schemas two ways, since neither catches everything alone:
 *   - kubernetes-models: the validators compiled from the Kubernetes OpenAPI schemas (types,
 *     required fields, apiVersion/kind, enums); like the API server, they accept unknown fields;
 *   - kubernetes-types: the same API as TypeScript types, and tsc's excess-property check on
 *     the manifests written out as object literals: an unknown or misspelt field is an error
 *     (what kubeconform -strict does).
 * Each check is shown to fail on a broken copy (a wrong apiVersion, a wrong type, a misspelt
 * field), the gateway config in the ConfigMap passes the real `gateway validate`, and the
 * Deployment is checked for what docs/operations.md#kubernetes says about it.
 *
 * yaml, kubernetes-models and kubernetes-types are devDependencies; they are loaded with
 * require (their CommonJS builds).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GATEWAY_BIN, ROOT, fetchText, freePort, startGatewayFile } from '../helpers/gateway.js';

const require = createRequire(import.meta.url);
const YAML = require('yaml') as typeof import('yaml');

const DIR = join(ROOT, 'packaging/kubernetes');
type Manifest = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string } };

/** Every document of every manifest file but the kustomization (not a Kubernetes API object). */
function manifests(): Array<{ file: string; doc: Manifest }> {
  const out: Array<{ file: string; doc: Manifest }> = [];
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const d of YAML.parseAllDocuments(readFileSync(join(DIR, file), 'utf8'))) {
      expect(d.errors, file).toEqual([]);
      out.push({ file, doc: d.toJS() as Manifest });
    }
  }
  return out;
}

function byKind(kind: string): Manifest {
  const m = manifests().find((x) => x.doc.kind === kind);
  if (m === undefined) throw new Error(`no ${kind} in ${DIR}`);
  return m.doc;
}

/** The kubernetes-models class of an object's apiVersion and kind. */
function modelFor(apiVersion: string, kind: string): new (data: unknown) => { validate(): void } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  let mod: Record<string, unknown> = {};
  try {
    mod = require(group === '' ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`) as Record<string, unknown>;
  } catch {
    // no such group/version in the API
  }
  const cls = mod[kind];
  if (typeof cls !== 'function') throw new Error(`kubernetes-models has no ${apiVersion} ${kind}`);
  return cls as new (data: unknown) => { validate(): void };
}

/** null when valid, else the schema's complaint. */
function schemaError(doc: Manifest): string | null {
  let Model;
  try {
    Model = modelFor(doc.apiVersion, doc.kind);
  } catch (err) {
    return (err as Error).message;
  }
  try {
    new Model(doc).validate();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/**
 * The kubernetes-types module of each kind the manifests use: by kind, not by the object's own
 * apiVersion, so that a wrong apiVersion is a type error too.
 */
const TYPE_MODULES: Record<string, string> = {
  ConfigMap: 'kubernetes-types/core/v1',
  Service: 'kubernetes-types/core/v1',
  Deployment: 'kubernetes-types/apps/v1',
  PodDisruptionBudget: 'kubernetes-types/policy/v1',
};
function typeFor(doc: Manifest): { module: string; type: string } {
  const module = TYPE_MODULES[doc.kind];
  if (module === undefined) throw new Error(`add ${doc.kind} to TYPE_MODULES`);
  return { module, type: doc.kind };
}

/**
 * Type-checks each object as a literal of its kubernetes-types type (one per line, so that an
 * error's line says which) with the project's tsc. Returns the error lines per object index.
 */
function typeErrors(docs: Manifest[]): Map<number, string[]> {
  const typesDir = dirname(require.resolve('kubernetes-types/package.json'));
  const dir = mkdtempSync(join(tmpdir(), 'gw-k8s-types-'));
  const imports = new Map<string, Set<string>>();
  for (const d of docs) {
    const t = typeFor(d);
    if (!imports.has(t.module)) imports.set(t.module, new Set());
    imports.get(t.module)!.add(t.type);
  }
  const header = [...imports].map(([m, types], i) => `import type { ${[...types].map((t) => `${t} as T${i}_${t}`).join(', ')} } from '${m}';`);
  const moduleIndex = new Map([...imports.keys()].map((m, i) => [m, i]));
  const lines = docs.map((d, i) => {
    const t = typeFor(d);
    return `export const m${i}: T${moduleIndex.get(t.module)}_${t.type} = ${JSON.stringify(d)};`;
  });
  writeFileSync(join(dir, 'manifests.ts'), [...header, ...lines, ''].join('\n'));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler',
        skipLibCheck: true, types: [], paths: { 'kubernetes-types/*': [`${typesDir}/*`] },
      },
      files: ['manifests.ts'],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir, '--pretty', 'false'], { encoding: 'utf8' });
  const errors = new Map<number, string[]>();
  for (const line of tsc.stdout.split('\n')) {
    const m = /manifests\.ts\((\d+),\d+\): error (.*)$/.exec(line);
    if (m === null) {
      if (line.includes('error TS')) throw new Error(`tsc: ${line}`); // not about a manifest: the check itself is broken
      continue;
    }
    const index = Number(m[1]) - 1 - header.length;
    if (index < 0) throw new Error(`tsc: ${line}`);
    if (!errors.has(index)) errors.set(index, []);
    errors.get(index)!.push(m[2]!);
  }
  if (tsc.status !== 0 && errors.size === 0) throw new Error(`tsc failed: ${tsc.stdout}${tsc.stderr}`);
  return errors;
}

function clone<T>(x: T): T {
  return JSON.parse(JSON.stringify(x)) as T;
}

type Container = Record<string, any>;
function gatewayContainer(d: Manifest): Container {
  const containers = (d as any).spec.template.spec.containers as Container[];
  return containers.find((c) => c.name === 'gateway')!;
}

describe('Kubernetes manifests', () => {
  it('parse, and pass the Kubernetes schemas (kubernetes-models)', () => {
    const all = manifests();
    expect(all.map((m) => m.doc.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
    for (const { file, doc } of all) expect(schemaError(doc), file).toBeNull();
  });

  it('type-check against kubernetes-types with no unknown field', () => {
    const docs = manifests().map((m) => m.doc);
    expect(Object.fromEntries(typeErrors(docs))).toEqual({});
  });

  it('a broken copy fails: wrong apiVersion, wrong type, misspelt or unknown field, a probe without its handler', () => {
    const deployment = byKind('Deployment');
    const pdb = byKind('PodDisruptionBudget');
    const mutate = (d: Manifest, f: (x: any) => void): Manifest => {
      const c = clone(d);
      f(c);
      return c;
    };
    // Caught by the schemas.
    expect(schemaError(mutate(pdb, (p) => (p.apiVersion = 'policy/v1beta9')))).toBe('kubernetes-models has no policy/v1beta9 PodDisruptionBudget');
    expect(schemaError(mutate(deployment, (d) => (d.spec.replicas = 'two')))).toMatch(/replicas must be integer/);
    expect(schemaError(mutate(deployment, (d) => (gatewayContainer(d).livenessProbe.httpGet.path = 42)))).toMatch(/path must be string/);
    expect(schemaError(mutate(deployment, (d) => delete d.spec.selector))).toMatch(/selector/);
    // Caught by the types (the schemas let unknown fields through, as the API server does).
    const broken = [
      mutate(deployment, (d) => {
        const c = gatewayContainer(d);
        c.readinesProbe = c.readinessProbe; // misspelt: Kubernetes would ignore it, and the pod would never be probed
        delete c.readinessProbe;
      }),
      mutate(deployment, (d) => (d.spec.strategy.rollingUpdate.maxUnavialable = 0)),
      mutate(deployment, (d) => (gatewayContainer(d).livenessProbe.httpGet.paht = '/healthz')),
      mutate(pdb, (p) => (p.apiVersion = 'policy/v1beta9')),
      mutate(deployment, (d) => (d.spec.replicas = 'two')),
    ];
    const errors = typeErrors(broken);
    for (let i = 0; i < broken.length; i++) expect(errors.get(i), `broken copy ${i}`).toBeDefined();
    expect(errors.get(0)!.join('\n')).toContain('"readinesProbe"\' does not exist');
    expect(errors.get(2)!.join('\n')).toContain('"paht"\' does not exist');
  });

  it("the ConfigMap's gateway.json passes `gateway validate`", () => {
    const cm = byKind('ConfigMap') as Manifest & { data: Record<string, string> };
    expect(Object.keys(cm.data)).toEqual(['gateway.json']);
    const dir = mkdtempSync(join(tmpdir(), 'gw-k8s-config-'));
    writeFileSync(join(dir, 'gateway.json'), cm.data['gateway.json']!);
    const r = spawnSync(process.execPath, [GATEWAY_BIN, 'validate', '-c', join(dir, 'gateway.json')], {
      cwd: ROOT, encoding: 'utf8', env: { ...process.env, GATEWAY_ADMIN_TOKEN: 'a-token-from-the-secret-0123456789' },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('valid');
  });

  it('the Deployment: probes on the admin port, --watch on the mounted ConfigMap, a rollout that never drops below the replicas, time to drain', () => {
    const d = byKind('Deployment') as any;
    const cm = byKind('ConfigMap') as Manifest & { data: Record<string, string> };
    const config = JSON.parse(cm.data['gateway.json']!);
    const c = gatewayContainer(d);
    const portOf = (name: string) => c.ports.find((p: { name: string }) => p.name === name).containerPort;
    expect(portOf('admin')).toBe(config.admin.port);
    expect(portOf('http')).toBe(config.listen.port);
    // The kubelet probes the pod's address: the admin API must listen on it.
    expect(config.admin.host).toBe('0.0.0.0');
    expect(config.admin.token).toBe('env:GATEWAY_ADMIN_TOKEN');
    expect(c.env.find((e: { name: string }) => e.name === 'GATEWAY_ADMIN_TOKEN').valueFrom.secretKeyRef).toBeDefined();
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    const ready = c.readinessProbe.exec.command.join(' ');
    expect(ready).toContain(`http://127.0.0.1:${config.admin.port}/readyz`);
    expect(ready).toContain('process.env.GATEWAY_ADMIN_TOKEN');
    expect(c.args).toEqual(['start', '-c', '/etc/gateway/gateway.json', '--watch']);
    // The ConfigMap as a directory: a subPath mount is never updated.
    const mount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/etc/gateway');
    expect(mount.subPath).toBeUndefined();
    expect(d.spec.template.spec.volumes.find((v: { name: string }) => v.name === mount.name).configMap.name).toBe(cm.metadata.name);
    expect(d.spec.strategy.rollingUpdate.maxUnavailable).toBe(0);
    expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
    // The grace period covers the preStop sleep, the drain deadline and the primary's 2 s kill grace.
    const drainMs = Number(c.env.find((e: { name: string }) => e.name === 'GATEWAY_DRAIN_MS').value);
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(c.lifecycle.preStop.sleep.seconds + drainMs / 1000 + 2);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
    expect(c.resources.requests.cpu).toBeDefined();
    expect(c.resources.limits.memory).toBeDefined();
    // One worker per CPU of the limit (availableParallelism sees the node's CPUs, not the limit).
    expect(config.workers).toBe(Number(c.resources.limits.cpu));
    const pdb = byKind('PodDisruptionBudget') as any;
    expect(pdb.spec.selector.matchLabels).toEqual(d.spec.selector.matchLabels);
    expect(byKind('Service') as any).toMatchObject({ spec: { selector: d.spec.selector.matchLabels } });
  });

  it("the probes work on a gateway started with the ConfigMap's config (its ports moved to free ones)", async () => {
    const d = byKind('Deployment') as any;
    const cm = byKind('ConfigMap') as Manifest & { data: Record<string, string> };
    const config = JSON.parse(cm.data['gateway.json']!);
    const c = gatewayContainer(d);
    const [port, adminPort] = [await freePort(), await freePort()];
    const dir = mkdtempSync(join(tmpdir(), 'gw-k8s-probe-'));
    const path = join(dir, 'gateway.json');
    writeFileSync(path, JSON.stringify({ ...config, listen: { ...config.listen, host: '127.0.0.1', port }, admin: { ...config.admin, host: '127.0.0.1', port: adminPort } }));
    const token = 'a-token-from-the-secret-0123456789';
    const gw = await startGatewayFile(path, port, { env: { GATEWAY_ADMIN_TOKEN: token } });
    try {
      await gw.waitForLog('"admin API listening"');
      expect((await fetchText(`http://127.0.0.1:${adminPort}${c.livenessProbe.httpGet.path}`)).status).toBe(200);
      // The readiness command as the kubelet runs it (`node` is this one), pointed at the moved admin port.
      const [cmd, ...args] = (c.readinessProbe.exec.command as string[]).map((a) => a.replace(`:${config.admin.port}/`, `:${adminPort}/`));
      expect(cmd).toBe('node');
      const probe = async (tok: string) => {
        const r = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, GATEWAY_ADMIN_TOKEN: tok }, timeout: 10_000 });
        return r.status;
      };
      let status = await probe(token);
      for (let i = 0; i < 100 && status !== 0; i++) {
        await new Promise((r) => setTimeout(r, 100)); // /readyz is 503 until every worker serves
        status = await probe(token);
      }
      expect(status).toBe(0);
      expect(await probe('not-the-token')).toBe(1); // a 401 is not ready
    } finally {
      await gw.stop();
    }
  });

  it('the kustomization lists every manifest', () => {
    const k = YAML.parse(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
    const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
    expect([...k.resources].sort()).toEqual(files);
    for (const f of k.resources) expect(existsSync(join(DIR, f))).toBe(true);
  });

  const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!kubectl)('kubectl kustomize builds it (where kubectl is installed)', () => {
    const r = spawnSync('kubectl', ['kustomize', DIR], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(YAML.parseAllDocuments(r.stdout).map((d) => (d.toJS() as Manifest).kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service']);
  });
});
