// @ts-check
/**
 * An example plugin module (docs/plugins/writing-plugins.md): takes the tenant from a route
 * param (`/t/:tenant/*`), refuses requests without one (400) or with one the config does not
 * allow (403), forwards it to the upstream in a header, and says on every answer which tenant
 * it was for.
 *
 * Plain JavaScript with JSDoc, so Node.js 20 runs it as it is; `// @ts-check` makes editors (and
 * the project's test) type-check it against the published types of `uws-gateway/plugin`. The
 * same plugin in TypeScript is in the guide.
 *
 * Used by config/examples/tenant-header.json:
 *   "pluginModules": ["./plugins/tenant-header.js"],
 *   "plugins": { "tenant-header": { "allow": ["acme", "globex"] } }
 */
import { definePlugin, errorReply, slot, Type, withDefault } from 'uws-gateway/plugin';

/** The tenant of the request, for the response hook (per-request state: a slot, made once). */
const TENANT = slot(/** @type {string} */ ('tenant-header.tenant'));

export default definePlugin({
  name: 'tenant-header',
  phase: 'transform',
  schema: Type.Object(
    {
      param: withDefault(Type.String({ minLength: 1, default: 'tenant', description: 'The route param that holds the tenant.' })),
      header: withDefault(Type.String({ minLength: 1, default: 'x-tenant-id', description: 'The request header the upstream gets it in (lower-case).' })),
      allow: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'The tenants let through (absent: any).' })),
      echo: withDefault(Type.Boolean({ default: true, description: 'Add x-tenant-id to every answer.' })),
    },
    { additionalProperties: false },
  ),

  // What the schema cannot say. Pointers are relative to this plugin's config.
  check(conf, r) {
    if (conf.header !== conf.header.toLowerCase()) r.error('/header', `header names are lower-case: ${r.show('/header', conf.header)}`);
    (conf.allow ?? []).forEach((t, i, all) => {
      if (all.indexOf(t) !== i) r.error(`/allow/${i}`, `duplicate tenant ${r.show(`/allow/${i}`, t)}`);
    });
  },

  // Once per route per config version: everything per-request is precomputed here.
  compile(conf, deps) {
    const allowed = conf.allow !== undefined ? new Set(conf.allow) : null;
    const { param, header, echo } = conf;
    if (deps.role === 'worker') deps.log('debug', 'tenant-header compiled', { param, allow: conf.allow?.length ?? 'any' });
    return {
      onRequest(ctx) {
        const tenant = ctx.params[param];
        if (tenant === undefined || tenant === '') return errorReply('bad_request', `no tenant in the path (":${param}")`);
        if (allowed !== null && !allowed.has(tenant)) return errorReply('forbidden', 'this tenant is not served here');
        ctx.setHeader(header, tenant);
        ctx.set(TENANT, tenant);
        return undefined; // go on to the upstream
      },
      ...(echo
        ? {
            onResponseHeaders(ctx) {
              const tenant = ctx.get(TENANT);
              if (tenant !== undefined) ctx.addResponseHeader('x-tenant-id', tenant);
            },
          }
        : {}),
    };
  },
});
