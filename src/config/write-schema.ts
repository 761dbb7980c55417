/**
 * Writes config/gateway.schema.json (the published JSON Schema of the config file) from the
 * TypeBox schema in src/config/schema.ts:
 *
 *   npx tsc -p tsconfig.json && node dist/src/config/write-schema.js   (or: npm run schema)
 *
 * test/unit/config.test.ts fails when the committed file differs from renderSchemaFile().
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gatewaySchemaDocument } from './schema.js';

/** The exact text of config/gateway.schema.json. */
export function renderSchemaFile(): string {
  return `${JSON.stringify(gatewaySchemaDocument(), null, 2)}\n`;
}

/** Repository root: two levels above src/config (or dist/src/config when compiled: three). */
function repoRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  return here.includes(`${'/dist/'}`) ? resolve(here, '../../..') : resolve(here, '../..');
}

export function schemaFilePath(): string {
  return resolve(repoRoot(), 'config/gateway.schema.json');
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const target = process.argv[2] ? resolve(process.argv[2]) : schemaFilePath();
  writeFileSync(target, renderSchemaFile());
  process.stdout.write(`wrote ${target}\n`);
}
