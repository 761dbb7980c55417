/**
 * The replay corpus: every Transfer-Encoding mutation (te-mutations.ts) in smuggler's two body
 * shapes, and every hand-written framing case (framing-cases.ts) against each of the three
 * routes, each sent in one write and with the smuggled request in a later write. Deterministic:
 * the only varying part, smuggler's cache-busting query, comes from the seeded PRNG.
 */
import { mulberry32 } from '../../src/util/prng.js';
import { encodedMutations } from './te-mutations.js';
import { framingCases } from './framing-cases.js';
import {
  PRIMARY_KINDS, caseId, partsFor, primaryFor, smuggledPath, smuggledRequest,
  type Delivery, type Pieces, type Primary, type ReplayCase, type SmuggledKind,
} from './wire.js';

const DELIVERIES: readonly Delivery[] = ['one-write', 'smuggled-later'];

/**
 * smuggler's two probe bodies, with the smuggled request after them and the Content-Length
 * covering everything (so a Content-Length reader sees one request, and only a reader that takes
 * the mutated line for chunked framing sees a second one):
 *   CL.TE: one chunk "Z", the last chunk, then S;
 *   TE.CL: the last chunk at once, then S.
 */
const SHAPES: ReadonlyArray<[string, string]> = [
  ['CL.TE', '1\r\nZ\r\n0\r\n\r\n'],
  ['TE.CL', '0\r\n\r\n'],
];

/** smuggler's request template around a mutated line (latin1 chars = bytes). */
function smugglerRequest(p: Primary, line: string, prefix: string, s: string): Pieces {
  const n = prefix.length + s.length;
  return {
    before:
      `POST ${p.target} HTTP/1.1\r\n` +
      `${line}\r\n` +
      p.std +
      'User-Agent: Mozilla/5.0 (corpus replay)\r\n' +
      'Content-type: application/x-www-form-urlencoded; charset=UTF-8\r\n' +
      `Content-Length: ${n}\r\n` +
      '\r\n' +
      prefix,
    smuggled: s,
    after: '',
  };
}

export interface Corpus {
  cases: ReplayCase[];
  /** Mutations generated per smuggler set, before removing repeated byte strings. */
  generated: Record<string, number>;
  /** Distinct mutated lines replayed, per family. */
  lines: Record<string, number>;
  framing: number;
}

export function buildCorpus(seed = 0x5eed): Corpus {
  const rng = mulberry32(seed);
  const cacheBuster = () => String(Math.floor(rng() * 1e15)).padStart(15, '0');
  const cases: ReplayCase[] = [];
  const push = (family: string, name: string, delivery: Delivery, primaryKind: (typeof PRIMARY_KINDS)[number], smuggledKind: SmuggledKind, query: string, build: (p: Primary, s: string) => Pieces) => {
    const id = caseId(cases.length);
    const primary = primaryFor(primaryKind, id, query);
    const pieces = build(primary, smuggledRequest(smuggledKind, id));
    cases.push({ id, family, name: `${name} [${delivery}, ${primaryKind} route, smuggling to ${smuggledKind}]`, delivery, primary, smuggledPath: smuggledPath(smuggledKind, id), parts: partsFor(pieces, delivery) });
  };

  const { list, generated } = encodedMutations();
  const lines: Record<string, number> = {};
  list.forEach((m, i) => {
    const family = `smuggler-${m.set}/${m.encoding}`;
    lines[family] = (lines[family] ?? 0) + 1;
    const line = m.bytes.toString('latin1');
    const primaryKind = PRIMARY_KINDS[i % PRIMARY_KINDS.length];
    let v = 0;
    for (const [shape, prefix] of SHAPES) {
      for (const delivery of DELIVERIES) {
        const smuggledKind: SmuggledKind = (i + v++) % 2 === 0 ? 'public' : 'private';
        push(family, `${m.name} (${m.encoding}) ${shape}`, delivery, primaryKind, smuggledKind, `cb=${cacheBuster()}`, (p, s) => smugglerRequest(p, line, prefix, s));
      }
    }
  });

  const framing = framingCases();
  framing.forEach((fc, k) => {
    let v = 0;
    for (const primaryKind of PRIMARY_KINDS) {
      for (const delivery of DELIVERIES) {
        const smuggledKind: SmuggledKind = (k + v++) % 2 === 0 ? 'public' : 'private';
        push(`garden/${fc.family}`, fc.name, delivery, primaryKind, smuggledKind, '', fc.build);
      }
    }
  });
  return { cases, generated, lines, framing: framing.length };
}
