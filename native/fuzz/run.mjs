#!/usr/bin/env node
// Builds and runs the response parser fuzz target (fuzz_response_parser.cc) for a bounded time.
//
//   node native/fuzz/run.mjs [--seconds 20] [--corpus DIR] [--seed N] [--engine auto|standalone|libfuzzer]
//   npm run fuzz:parser
//
// standalone: g++ (or clang++) -fsanitize=address,undefined, the built-in seeded generator; always
//             available where the addon builds (g++ is what node-gyp uses).
// libfuzzer:  clang++ -fsanitize=fuzzer,address,undefined (Debian: apt-get install clang-14
//             libclang-rt-14-dev); coverage-guided, seeded from --corpus (each file is given the
//             4-byte option prefix the target expects).
// auto (default): libfuzzer if it builds, else standalone.
// Binaries go to build/fuzz/ and are rebuilt when a source is newer. Exit code: the target's
// (non-zero on a crash or an invariant violation, whose report is on stderr).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'build', 'fuzz');
const sources = [join(here, '..', 'http_response_parser.cc'), join(here, 'fuzz_response_parser.cc')];
const headers = [join(here, '..', 'http_response_parser.h')];

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}
const seconds = Number(arg('seconds', process.env.HTTP_PARSER_FUZZ_SECONDS ?? '20'));
const corpus = arg('corpus', null);
const seed = arg('seed', String(Date.now() % 1_000_000_007));
const engine = arg('engine', process.env.HTTP_PARSER_FUZZ_ENGINE ?? 'auto');

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
const COMMON = ['-std=c++17', '-O1', '-g', '-fno-omit-frame-pointer', '-fno-exceptions', '-fno-sanitize-recover=all', '-DGATEWAY_PARSER_CHECKS', '-Wall', '-Wextra'];

function build(compiler, flags, binary) {
  const newest = Math.max(...[...sources, ...headers, fileURLToPath(import.meta.url)].map((f) => statSync(f).mtimeMs));
  if (existsSync(binary) && statSync(binary).mtimeMs > newest) return true;
  mkdirSync(out, { recursive: true });
  const args = [...COMMON, ...flags, ...sources, '-o', binary];
  console.log(`fuzz: ${compiler} ${args.map((a) => a.replace(root + '/', '')).join(' ')}`);
  const r = spawnSync(compiler, args, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) {
    if (r.stderr) process.stderr.write(r.stderr);
    return false;
  }
  return true;
}

function clang() {
  for (const c of ['clang++', 'clang++-19', 'clang++-18', 'clang++-17', 'clang++-16', 'clang++-15', 'clang++-14']) if (has(c)) return c;
  return null;
}

function runStandalone() {
  const cxx = has('g++') ? 'g++' : clang();
  if (cxx === null) {
    console.error('fuzz: no C++ compiler (g++ or clang++) found');
    return 2;
  }
  const binary = join(out, 'fuzz_response_parser');
  if (!build(cxx, ['-fsanitize=address,undefined', '-DGATEWAY_STANDALONE_FUZZ'], binary)) return 2;
  const args = ['--seconds', String(seconds), '--seed', seed];
  if (corpus !== null) args.push('--corpus', corpus);
  console.log(`fuzz: standalone driver, ${seconds} s, seed ${seed} (rerun: node native/fuzz/run.mjs --engine standalone --seed ${seed})`);
  const r = spawnSync(binary, args, { stdio: 'inherit', env: { ...process.env, ASAN_OPTIONS: 'abort_on_error=1:detect_leaks=1', UBSAN_OPTIONS: 'print_stacktrace=1' } });
  return r.status ?? 1;
}

function runLibFuzzer(cxx) {
  const binary = join(out, 'fuzz_response_parser_libfuzzer');
  if (!build(cxx, ['-fsanitize=fuzzer,address,undefined'], binary)) return null;
  const dir = join(out, 'libfuzzer-corpus');
  mkdirSync(dir, { recursive: true });
  if (corpus !== null) {
    for (const f of readdirSync(corpus)) {
      writeFileSync(join(dir, `seed-${f}`), Buffer.concat([Buffer.from([1, 2, 3, 4]), readFileSync(join(corpus, f))]));
    }
  }
  console.log(`fuzz: libFuzzer, ${seconds} s, corpus ${dir}`);
  const r = spawnSync(binary, [`-max_total_time=${Math.max(1, Math.round(seconds))}`, `-seed=${seed}`, '-rss_limit_mb=2048', '-print_final_stats=1', dir], {
    stdio: 'inherit',
  });
  return r.status ?? 1;
}

let status;
if (engine === 'standalone') {
  status = runStandalone();
} else {
  const cxx = clang();
  const lf = cxx === null ? null : runLibFuzzer(cxx);
  if (lf === null) {
    if (engine === 'libfuzzer') {
      console.error('fuzz: libFuzzer is not available (Debian: apt-get install -y clang-14 libclang-rt-14-dev)');
      process.exit(2);
    }
    status = runStandalone();
  } else {
    status = lf;
  }
}
process.exit(status);
