/**
 * Helpers for plugins' check(): the shapes that several plugins validate (header names, CIDRs),
 * written once. Checks may see a config the schema already refused (they run to report every
 * problem at once), so they test types before use.
 */
export { checkCidr, checkHeaderName, isFramingHeader } from '../util/syntax.js';

export const isString = (v: unknown): v is string => typeof v === 'string';
export const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export { escapePointer, isObject } from '../util/json-pointer.js';
