/**
 * JSON parsing with exact positions: our own parser, so a syntax error says line and column,
 * comments and single quotes get a readable message, and duplicate keys are errors (JSON.parse
 * keeps the last one silently).
 */
import type { ConfigError } from '../report.js';
import { defineProp, escapePointer } from '../util.js';

export type ParseOutcome = { value: unknown; duplicates: ConfigError[] } | { syntax: { pos: number; message: string } };

class SyntaxFailure {
  constructor(
    readonly pos: number,
    readonly message: string,
  ) {}
}

export function parseJson(text: string): ParseOutcome {
  let pos = 0;
  const duplicates: ConfigError[] = [];
  const fail = (message: string, at = pos): never => {
    throw new SyntaxFailure(at, message);
  };
  const describe = (at: number): string => {
    if (at >= text.length) return 'end of file';
    const c = text[at];
    return c === '"' ? "'\"'" : `"${c}"`;
  };
  const skipWs = (): void => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else if (c === 0x2f && (text[pos + 1] === '/' || text[pos + 1] === '*')) fail('comments are not allowed in JSON');
      else return;
    }
  };
  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    let out = '';
    let chunk = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string', start);
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(chunk, pos);
        pos++;
        return out;
      }
      if (c < 0x20) fail('control character in string (escape it)');
      if (c === 0x5c) {
        out += text.slice(chunk, pos);
        const e = text[pos + 1];
        const map: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && e in map) {
          out += map[e];
          pos += 2;
        } else if (e === 'u') {
          const hex = text.slice(pos + 2, pos + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 6;
        } else {
          fail('invalid escape sequence');
        }
        chunk = pos;
        continue;
      }
      pos++;
    }
  };
  const parseValue = (pointer: string): unknown => {
    skipWs();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      const keyPos = new Map<string, number>();
      skipWs();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skipWs();
        if (text[pos] === '}') fail('trailing comma before "}"');
        if (text[pos] !== '"') fail(`expected a string key, found ${describe(pos)}`);
        const at = pos;
        const key = parseString();
        skipWs();
        if (text[pos] !== ':') fail(`expected ":" after key "${key}", found ${describe(pos)}`);
        pos++;
        const value = parseValue(`${pointer}/${escapePointer(key)}`);
        if (keyPos.has(key)) {
          const { line, column } = lineColumn(text, at);
          duplicates.push({ pointer, message: `duplicate key "${key}" (line ${line}, column ${column}); each key may appear once` });
        }
        keyPos.set(key, at);
        defineProp(obj, key, value);
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return obj;
        }
        fail(`expected "," or "}" after a property value, found ${describe(pos)}`);
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      skipWs();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        skipWs();
        if (text[pos] === ']') fail('trailing comma before "]"');
        arr.push(parseValue(`${pointer}/${arr.length}`));
        skipWs();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return arr;
        }
        fail(`expected "," or "]" after an array item, found ${describe(pos)}`);
      }
    }
    if (c === '"') return parseString();
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
      if (!m) fail('invalid number');
      pos += m![0].length;
      if (/^[0-9.eE+-]/.test(text[pos] ?? '')) fail('invalid number');
      return Number(m![0]);
    }
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, pos)) {
        pos += word.length;
        return value;
      }
    }
    if (c === undefined) fail('unexpected end of file');
    if (c === "'") fail('strings must use double quotes');
    return fail(`unexpected ${describe(pos)}`);
  };
  try {
    const value = parseValue('');
    skipWs();
    if (pos < text.length) fail(`unexpected ${describe(pos)} after the end of the JSON document`);
    return { value, duplicates };
  } catch (err) {
    if (err instanceof SyntaxFailure) return { syntax: { pos: err.pos, message: err.message } };
    throw err;
  }
}

export function lineColumn(text: string, pos: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: pos - lineStart + 1 };
}
