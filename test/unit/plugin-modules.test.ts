/**
 * Plugin modules through the real loader: files written to a temp directory (with the gateway
 * as a dependency, so they import `uws-gateway/plugin`), loaded by loadConfigFile and compiled
 * by the dry run `gateway validate` / start / reload use. What a module gets wrong is an error
 * at /pluginModules/<i>; what a config gets wrong about a module's plugin is an error with a
 * pointer into the file, as for the built-ins.
 */
import { describe, expect, it } from 'vitest';
import { loadConfigFile, type LoadResult } from '../../src/config/load.js';
import { dryRunCompile } from '../../src/runtime/dry-run.js';
import { ServiceHost } from '../../src/runtime/services.js';
import { nodeTypeScript } from '../../src/plugins/modules/import.js';
import { replyProblem } from '../../src/plugins/modules/guard.js';
import { pluginDir, pluginSource } from '../helpers/plugin-modules.js';

const TENANT = pluginSource(`{
  name: 'tenant',
  phase: 'transform',
  schema: Type.Object({
    header: Type.String({ default: 'x-tenant' }),
    port: Type.Optional(Type.Integer({ minimum: 1 })),
    required: Type.Optional(Type.Boolean()),
  }, { additionalProperties: false }),
  check(conf, r) { if (conf.header === 'host') r.error('/header', 'the upstream\\'s Host is not yours to set'); },
  compile(conf) { return { onRequest(ctx) { ctx.setHeader(conf.header, 't'); } }; },
}`);

function baseConfig(extra: Record<string, unknown>, routePlugins: Record<string, unknown> = {}) {
  return {
    listen: { port: 0 },
    upstreams: { u: { targets: [{ url: 'http://127.0.0.1:1' }] } },
    routes: [
      { id: 'a', paths: ['/a'], upstream: 'u', plugins: routePlugins },
      { id: 'b', paths: ['/b'], upstream: 'u' },
    ],
    ...extra,
  };
}

/** Loads a config that lists the given modules (name -> source) from a fresh directory. */
async function load(modules: Record<string, string>, extra: Record<string, unknown> = {}, routePlugins: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<LoadResult> {
  const d = pluginDir();
  for (const [name, text] of Object.entries(modules)) d.write(name, text);
  const path = d.config(baseConfig({ pluginModules: Object.keys(modules).map((m) => `./${m}`), ...extra }, routePlugins));
  return loadConfigFile(path, { env });
}

function errorsOf(r: LoadResult): string[] {
  if (r.ok) throw new Error('expected errors, the config loaded');
  return r.errors.map((e) => `${e.pointer}: ${e.message}`);
}

function ok(r: LoadResult): Extract<LoadResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected a valid config:\n${errorsOf(r).join('\n')}`);
  return r;
}

describe('loading plugin modules', () => {
  it('loads a module relative to the config file and validates its config like a built-in\'s', async () => {
    const r = ok(await load({ 'tenant.js': TENANT }, { plugins: { tenant: {} } }, { tenant: { header: 'x-t', port: 'env:T_PORT' } }, { T_PORT: '8443' }));
    expect(r.plugins.modules.map((m) => m.descriptor.name)).toEqual(['tenant']);
    expect(r.plugins.modules[0].ref.url).toMatch(/^file:\/\/\/.*\/tenant\.js\?v=[0-9a-f]{16}$/);
    // The module schema's default is filled in; an env value is coerced to the module schema's type.
    expect(r.config.plugins).toMatchObject({ tenant: { header: 'x-tenant' } });
    expect(r.config.routes[0].plugins).toMatchObject({ tenant: { header: 'x-t', port: 8443 } });
  });

  it('reports config errors of a module plugin with pointers into the file, global and per route', async () => {
    const r = await load({ 'tenant.js': TENANT }, { plugins: { tenant: { header: 3 } } }, { tenant: { required: 'yes', extra: 1 } });
    expect(errorsOf(r)).toEqual([
      '/plugins/tenant/header: expected a string, got 3',
      '/routes/0/plugins/tenant: unknown key "extra"',
      '/routes/0/plugins/tenant/required: expected true or false, got "yes"',
    ]);
  });

  it('runs the module\'s check with pointers relative to its config', async () => {
    const r = await load({ 'tenant.js': TENANT }, {}, { tenant: { header: 'host' } });
    expect(errorsOf(r)).toEqual(['/routes/0/plugins/tenant/header: the upstream\'s Host is not yours to set']);
  });

  it('lets a route turn a global module plugin off with false, and refuses false globally', async () => {
    ok(await load({ 'tenant.js': TENANT }, { plugins: { tenant: {} } }, { tenant: false }));
    expect(errorsOf(await load({ 'tenant.js': TENANT }, { plugins: { tenant: false } }))).toEqual(['/plugins/tenant: expected an object, got false']);
  });

  it('names unknown plugins at their plugins object, listing the loaded modules\' plugins', async () => {
    const [message] = errorsOf(await load({ 'tenant.js': TENANT }, {}, { tenat: {} }));
    expect(message).toMatch(/^\/routes\/0\/plugins: unknown plugin "tenat"; did you mean "tenant"\? Known plugins: requestId, .*, encoding, tenant \(/);
  });

  it('accepts a plain JSON Schema, CommonJS, and the named export "plugin"', async () => {
    const r = ok(
      await load(
        {
          'plain.mjs': `export const plugin = { name: 'plain', phase: 'ip', schema: { type: 'object', properties: { n: { type: 'integer', default: 2 } }, additionalProperties: false }, compile: () => ({}) };`,
          'common.cjs': `module.exports = { name: 'common', phase: 'auth', schema: { type: 'object' }, compile: () => ({}) };`,
        },
        { plugins: { plain: {}, common: {} } },
      ),
    );
    expect(r.config.plugins).toMatchObject({ plain: { n: 2 }, common: {} });
    expect(errorsOf(await load({ 'plain.mjs': `export default { name: 'plain', phase: 'ip', schema: { type: 'object', properties: { n: { type: 'integer' } } }, compile: () => ({}) };` }, { plugins: { plain: { n: 'x' } } }))).toEqual([
      '/plugins/plain/n: expected an integer, got "x"',
    ]);
  });

  it('orders each phase\'s built-ins first, then its modules\' plugins in pluginModules order', async () => {
    const mod = (name: string, phase: string) => `export default { name: '${name}', phase: '${phase}', schema: { type: 'object' }, compile: () => ({}) };`;
    const r = ok(await load({ 'z.mjs': mod('z-auth', 'auth'), 'a.mjs': mod('a-ip', 'ip'), 'm.mjs': mod('m-auth', 'auth') }));
    expect(r.plugins.names).toEqual([
      'requestId', 'cors', 'ipRestriction', 'a-ip', 'jwt', 'apiKey', 'basicAuth', 'z-auth', 'm-auth', 'acl', 'rateLimit',
      'requestHeaders', 'responseHeaders', 'cache', 'encoding',
    ]);
  });
});

describe('what a module gets wrong: errors at /pluginModules/<i>', () => {
  const good = `name: 'm', phase: 'transform', schema: { type: 'object' }, compile: () => ({})`;
  it.each([
    ['no plugin export', `export const other = 1;`, 'exports no plugin: make the descriptor its default export'],
    ['not an object', `export default () => {};`, 'the export is function, not a plugin descriptor object'],
    ['hooks on the descriptor', `export default { ${good}, onRequest() {} };`, '"onRequest" is a hook: compile() returns the hooks'],
    ['an unknown key', `export default { ${good}, answersPreflight: true };`, 'unknown descriptor key "answersPreflight"'],
    ['a bad name', `export default { ${good.replace("'m'", "'has space'")} };`, '"name" "has space" must start with a letter'],
    ['a bad phase', `export default { ${good.replace("'transform'", "'late'")} };`, '"phase" must be one of "requestId", "cors", "ip", "auth", "acl", "rateLimit", "transform", got "late"'],
    ['a schema that is not an object schema', `export default { ${good.replace("{ type: 'object' }", "{ type: 'string' }")} };`, '"schema" must describe an object (type "object")'],
    ['no compile', `export default { name: 'm', phase: 'transform', schema: { type: 'object' } };`, '"compile" must be a function'],
    ['an invalid JSON Schema', `export default { ${good.replace("{ type: 'object' }", "{ type: 'object', properties: { a: { type: 'strin' } } }")} };`, 'plugin "m": its schema is not a valid JSON Schema (draft-07)'],
    // (Under vitest the import goes through Vite's transform, so the parser's words differ: the
    // integration test checks Node's own message through `gateway validate`.)
    ['a syntax error', `export default { name: 'm', phase: , };`, 'cannot import plugin module "./m.mjs": '],
    ['a throw at the top level', `throw new Error('no config for me');`, 'cannot import plugin module "./m.mjs": no config for me'],
    ['a missing dependency', `import 'no-such-package-here';\nexport default {};`, "cannot import plugin module \"./m.mjs\": Cannot find package 'no-such-package-here'"],
  ])('%s', async (_what, source, message) => {
    const errors = errorsOf(await load({ 'm.mjs': source }));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`/pluginModules/0: `);
    expect(errors[0]).toContain(message);
  });

  it('names every problem of a descriptor at once', async () => {
    const [e] = errorsOf(await load({ 'm.mjs': `export default { name: 1, phase: 'x', schema: 2 };` }));
    expect(e).toMatch(/"name" must be a string.*"phase" must be one of.*"schema" must be the JSON Schema.*"compile" must be a function/);
  });

  it('refuses a file that does not exist', async () => {
    const d = pluginDir();
    const r = await loadConfigFile(d.config(baseConfig({ pluginModules: ['./plugins/gone.js'] })));
    expect(errorsOf(r)).toEqual(['/pluginModules/0: cannot read plugin module "./plugins/gone.js": no such file']);
  });

  it('refuses a built-in\'s name and a name another module has, and says so for its plugins too', async () => {
    const named = (n: string) => `export default { name: '${n}', phase: 'auth', schema: { type: 'object' }, compile: () => ({}) };`;
    expect(errorsOf(await load({ 'a.mjs': named('jwt') }))).toEqual(['/pluginModules/0: plugin name "jwt" is taken by a built-in plugin: choose another name']);
    const errors = errorsOf(await load({ 'a.mjs': named('mine'), 'b.mjs': named('mine') }, { plugins: { mine: {} } }));
    expect(errors).toEqual(['/pluginModules/1: plugin name "mine" is already used by /pluginModules/0']);
  });

  it('says which module failed when a plugin it would have named is unknown', async () => {
    const errors = errorsOf(await load({ 'm.mjs': 'export default {};' }, { plugins: { m: {} } }));
    expect(errors).toHaveLength(2);
    expect(errors[1]).toMatch(/^\/plugins: unknown plugin "m"\. Known plugins: .* \(a plugin module could not be loaded, see \/pluginModules\)\.$/);
  });

  it.runIf(nodeTypeScript() === undefined)('refuses a .ts module on a Node.js that cannot strip types, saying what to do', async () => {
    const [e] = errorsOf(await load({ 'm.ts': `export default { name: 'm' } as const;` }));
    expect(e).toBe(
      `/pluginModules/0: plugin module "./m.ts" is TypeScript, which Node.js ${process.version} cannot import: compile it to JavaScript (tsc) and list the .js file, or run Node.js 22.18 or later (it strips types itself)`,
    );
  });
});

describe('compiling module plugins (the dry run of validate, start and reload)', () => {
  async function compileErrors(descriptorBody: string, conf: Record<string, unknown> = {}) {
    const r = ok(await load({ 'm.mjs': `import { ConfigFault } from 'uws-gateway/plugin';\nexport default { name: 'm', phase: 'transform', schema: { type: 'object' }, ${descriptorBody} };` }, {}, { m: conf }));
    return dryRunCompile(r.config, new ServiceHost('probe'), r.plugins).map((e) => `${e.pointer}: ${e.message}`);
  }

  it('compiles a module plugin with the probe role and the public deps', async () => {
    expect(await compileErrors(`compile(conf, deps) { if (deps.role !== 'probe' || deps.routeId !== 'a' || deps.scope.kind !== 'route' || typeof deps.log !== 'function' || deps.consumer('x') !== undefined) throw new Error('deps'); return {}; }`)).toEqual([]);
  });

  it('reports a ConfigFault at its pointer inside the plugin\'s config', async () => {
    expect(await compileErrors(`compile() { throw new ConfigFault('/keyFile', 'holds a private key'); }`)).toEqual(['/routes/0/plugins/m/keyFile: holds a private key']);
  });

  it('reports a compile() that throws, returns a promise or returns hooks modules cannot use, at the plugin', async () => {
    expect(await compileErrors(`compile() { throw new TypeError('oops'); }`)).toEqual(['/routes/0/plugins/m: plugin "m": its compile() threw: oops']);
    expect(await compileErrors(`async compile() { return {}; }`)).toEqual(['/routes/0/plugins/m: plugin "m": compile() returned a promise: compile runs synchronously (do async set-up in a service, or lazily in onRequest)']);
    expect(await compileErrors(`compile: () => ({ onResponseBody() {} })`)).toEqual([
      '/routes/0/plugins/m: plugin "m": compile() returned "onResponseBody", which plugin modules cannot use (they have onRequest, onResponseHeaders, onComplete, removeResponseHeaders)',
    ]);
    expect(await compileErrors(`compile: () => ({ removeResponseHeaders: ['X-Up'] })`)).toEqual([
      '/routes/0/plugins/m: plugin "m": compile() returned removeResponseHeaders that is not a list of lower-case header names',
    ]);
  });
});

describe('replies a module may return', () => {
  it.each([
    [{ status: 403, code: 'forbidden', message: 'no' }, null],
    [{ status: 451, body: '{"why":"law"}', headers: ['content-type', 'application/json'] }, null],
    [{ status: 204 }, null],
    ['nope', 'returned the string "nope": expected undefined (go on) or a reply { status, ... }'],
    [{ status: 99 }, 'replied with status number 99: expected an integer from 200 to 599'],
    [{ status: '403' }, 'replied with status the string "403": expected an integer from 200 to 599'],
    [{ status: 418, code: 'forbidden' }, 'replied with status 418 and code "forbidden", whose status is 403'],
    [{ status: 400, code: 'teapot' }, 'replied with the unknown error code the string "teapot"'],
    [{ status: 200, headers: ['X-Up', 'v'] }, 'replied with the header name the string "X-Up": expected a lower-case token'],
    [{ status: 200, headers: ['x-up', 'a\r\nb: c'] }, 'replied with an invalid value for header "x-up"'],
    [{ status: 200, headers: ['x-up'] }, 'replied with headers that are not a flat [name, value, ...] list'],
    [{ status: 200, headers: ['content-length', '3'] }, 'replied with the header "content-length", which a plugin cannot set: the gateway frames each message and its connection itself'],
    [{ status: 200, headers: ['connection', 'close'] }, 'replied with the header "connection", which a plugin cannot set: the gateway frames each message and its connection itself'],
    [{ status: 200, body: 42 }, 'replied with a body that is neither a string nor a Buffer'],
  ])('%j', (reply, problem) => {
    expect(replyProblem(reply)).toBe(problem);
  });
});
