/** Small helpers over plain JSON data and JSON pointers (RFC 6901), shared by the config steps. */
import { escapePointer, isObject, unescapePointer } from '../util/json-pointer.js';

export { escapePointer, isObject, unescapePointer };

export function defineProp(obj: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Deep copy of plain JSON-like data (arrays, plain objects, primitives); never shares objects. */
export function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(v)) {
      const value = v[key];
      if (value !== undefined) defineProp(out, key, cloneJson(value));
    }
    return out;
  }
  return v;
}

export function setAt(root: unknown, pointer: string, value: unknown): void {
  if (pointer === '') return;
  const segs = pointer.slice(1).split('/').map(unescapePointer);
  let cur: unknown = root;
  for (let i = 0; i < segs.length - 1; i++) {
    if (Array.isArray(cur)) cur = cur[Number(segs[i])];
    else if (isObject(cur)) cur = Object.prototype.hasOwnProperty.call(cur, segs[i]) ? cur[segs[i]] : undefined;
    else return;
  }
  const last = segs[segs.length - 1];
  if (Array.isArray(cur) && /^\d+$/.test(last) && Number(last) < cur.length) cur[Number(last)] = value;
  else if (isObject(cur) && Object.prototype.hasOwnProperty.call(cur, last)) cur[last] = value;
}

export function walk(root: unknown, visit: (value: unknown, set: (v: unknown) => void, pointer: string) => void): void {
  const go = (value: unknown, set: (v: unknown) => void, pointer: string): void => {
    visit(value, set, pointer);
    if (Array.isArray(value)) value.forEach((item, i) => go(item, (v) => (value[i] = v), `${pointer}/${i}`));
    else if (isObject(value)) {
      for (const key of Object.keys(value)) go(value[key], (v) => (value[key] = v), `${pointer}/${escapePointer(key)}`);
    }
  };
  go(root, () => {}, '');
}
