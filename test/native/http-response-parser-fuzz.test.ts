/**
 * Builds the response parser's sanitizer fuzz target (native/fuzz/, ASan + UBSan, internal
 * invariant checks) and runs it for a bounded time, seeded with the regression corpus.
 * HTTP_PARSER_FUZZ_SECONDS (default 20) sets the time; HTTP_PARSER_FUZZ_ENGINE=standalone|libfuzzer
 * forces a front end (default: libFuzzer when clang++ with libFuzzer is installed, else the g++
 * standalone driver). The seed is printed; rerun with node native/fuzz/run.mjs --seed <seed>.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { CORPUS } from './http-response-corpus.js';

const SECONDS = Number(process.env.HTTP_PARSER_FUZZ_SECONDS ?? 20);
const root = fileURLToPath(new URL('../../', import.meta.url));

it(`the sanitizer fuzz target survives ${SECONDS} s`, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parser-corpus-'));
  try {
    CORPUS.forEach((c, i) => writeFileSync(join(dir, `case-${String(i).padStart(3, '0')}`), Buffer.from(c.raw, 'latin1')));
    const child = spawn(process.execPath, [join(root, 'native', 'fuzz', 'run.mjs'), '--seconds', String(SECONDS), '--corpus', dir], { cwd: root });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    console.log(output.trim());
    expect(code, output.slice(-4000)).toBe(0);
    expect(output).toMatch(/fuzz_response_parser: ok: \d+ inputs|Done \d+ runs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, (SECONDS + 180) * 1000);
