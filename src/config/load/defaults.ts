/** Defaults Ajv does not apply (inside anyOf: route plugins `X | false`, accessLog). */
import { cloneJson, defineProp, isObject } from '../util.js';
import { typeMatches, type JsonSchema } from './ajv.js';

export function applyDefaults(schema: JsonSchema, value: unknown): void {
  if (Array.isArray(schema.anyOf)) {
    const branch = (schema.anyOf as JsonSchema[]).find((b) => typeMatches(b.type, value) && !('const' in b));
    if (branch) applyDefaults(branch, value);
    return;
  }
  if (isObject(value)) {
    const props = schema.properties as Record<string, JsonSchema> | undefined;
    if (props) {
      for (const [key, sub] of Object.entries(props)) {
        if (value[key] === undefined && 'default' in sub) defineProp(value, key, cloneJson(sub.default));
        if (value[key] !== undefined) applyDefaults(sub, value[key]);
      }
    }
    const patterns = schema.patternProperties as Record<string, JsonSchema> | undefined;
    if (patterns) {
      for (const [re, sub] of Object.entries(patterns)) {
        const regex = new RegExp(re);
        for (const key of Object.keys(value)) if (regex.test(key)) applyDefaults(sub, value[key]);
      }
    }
  } else if (Array.isArray(value) && isObject(schema.items)) {
    for (const item of value) applyDefaults(schema.items as JsonSchema, item);
  }
}
