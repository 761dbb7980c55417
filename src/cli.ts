/**
 * `gateway` command line: start | validate | diff | bench | hash-key | hash-password | --version.
 */
import { packageVersion } from './util/version.js';
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { readGatewayConfig, formatErrors, namedFiles } from './config/index.js';
import { loadConfigFile } from './config/load.js';
import { configChanges, formatChanges, hasChanges } from './config/diff.js';
import { Supervisor } from './primary/supervisor.js';
import { dryRunCompile } from './runtime/dry-run.js';
import { ServiceHost } from './runtime/services.js';
import { startAdmin } from './primary/admin.js';
import { ConfigWatcher } from './primary/watch.js';
import { log } from './observability/log.js';

const USAGE = `Usage: gateway <command> [options]

Commands:
  start -c FILE        start the gateway (primary + workers) on FILE
                       --watch reloads when FILE (or a file it names) changes
                       --watch-poll-ms N also compares the files every N ms (default
                       5000; 0: only file-system events)
                       --demo also starts the demo upstreams of config/gateway.json
  validate -c FILE     check FILE; print every problem as "pointer: message"; exit 1 if any
  diff OLD NEW         what a reload from OLD to NEW adds, removes and changes (ids only);
                       --json for machines; exit 0 equal, 1 different, 2 invalid input
  bench [options]      run the load suite (see docs/benchmarking.md)
  hash-key             read an API key on stdin, print its config value (sha256:<hex>)
  hash-password        read a password on stdin, print its config value (scrypt:...)
  --version            print the version
`;


async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  // One trailing newline (from echo or a terminal) is not part of the secret.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** The checks of `gateway start` and every reload: read and validate, then the compile dry run (probe services). */
async function cmdValidate(configPath: string): Promise<number> {
  const result = await readGatewayConfig(configPath);
  const errors = result.ok ? dryRunCompile(result.config, new ServiceHost('probe'), result.plugins) : result.errors;
  if (!result.ok || errors.length > 0) {
    process.stderr.write(`${configPath}: ${errors.length} problem(s)\n${formatErrors(errors)}\n`);
    return 1;
  }
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`${configPath}: valid (${result.config.routes.length} routes, ${Object.keys(result.config.upstreams).length} upstreams)\n`);
  return 0;
}

/**
 * `gateway diff OLD NEW`: the summary a reload from OLD to NEW would write to its audit line.
 * Exit status as diff(1), cmp and `git diff --exit-code`: 0 equal, 1 different, 2 trouble
 * (either file unreadable or invalid; every problem printed as `validate` prints it).
 * Both files are checked as `validate` checks them, except for what only the machine that runs
 * them can check (the files they name, the compile dry run), and `env:NAME` values of
 * variables that are not set compare as the reference itself: CI needs no secrets.
 */
async function cmdDiff(oldPath: string | undefined, newPath: string | undefined, json: boolean): Promise<number> {
  if (oldPath === undefined || newPath === undefined) {
    process.stderr.write(`gateway diff: two files needed: gateway diff OLD.json NEW.json\n`);
    return 2;
  }
  const env = new Proxy(process.env, { get: (e, name: string) => e[name] ?? unsetEnvPlaceholder(name) });
  const [before, after] = await Promise.all([loadConfigFile(oldPath, { env }), loadConfigFile(newPath, { env })]);
  let invalid = false;
  for (const [path, r] of [[oldPath, before], [newPath, after]] as const) {
    if (r.ok) continue;
    invalid = true;
    process.stderr.write(`${path}: ${r.errors.length} problem(s)\n${formatErrors(r.errors)}\n`);
  }
  if (invalid || !before.ok || !after.ok) return 2;
  const changes = configChanges(before.config, after.config);
  const differ = hasChanges(changes);
  process.stdout.write(json ? JSON.stringify({ differ, changes }, null, 2) + '\n' : formatChanges(changes));
  return differ ? 1 : 0;
}

/** What an unset `env:NAME` reads as in `gateway diff`: its own name, long enough for secret-length rules. */
function unsetEnvPlaceholder(name: string): string {
  return `env:${name}`.padEnd(48, '.');
}

async function cmdStart(configPath: string, demo: boolean, watch: { pollMs: number } | null): Promise<number> {
  // The drain deadline on SIGTERM/SIGINT (in-flight requests and relayed WebSockets): 30 s by default.
  // Within it, how long connections stay open for their clients' next request (1 s by default).
  const drainEnv = Number(process.env.GATEWAY_DRAIN_MS);
  const graceEnv = process.env.GATEWAY_DRAIN_KEEPALIVE_MS === undefined ? NaN : Number(process.env.GATEWAY_DRAIN_KEEPALIVE_MS);
  const sup = new Supervisor({
    configPath,
    drainMs: Number.isInteger(drainEnv) && drainEnv >= 0 ? drainEnv : undefined,
    keepAliveGraceMs: Number.isInteger(graceEnv) && graceEnv >= 0 ? graceEnv : undefined,
  });
  // The admin port of a gateway started beside another during an upgrade (docs/operations.md).
  const adminPortEnv = process.env.GATEWAY_ADMIN_PORT;
  const adminPort = adminPortEnv === undefined || adminPortEnv === '' ? undefined : Number(adminPortEnv);
  if (adminPort !== undefined && !(Number.isInteger(adminPort) && adminPort >= 0 && adminPort <= 65535)) {
    process.stderr.write(`GATEWAY_ADMIN_PORT: expected a port number 0..65535, got ${JSON.stringify(adminPortEnv)}\n`);
    return 1;
  }
  // Unheard, SIGUSR1 starts Node's inspector: listen before anything else can take time.
  process.on('SIGUSR1', () => sup.reopenLogs());
  // Watched: the config file and what a reload re-reads, plugin modules' files included (not TLS
  // files: changing them needs a restart).
  const watched = () =>
    sup.config ? [configPath, ...namedFiles(sup.config, sup.plugins).reloaded.map((f) => f.path), ...sup.plugins.refs.map((r) => r.path)] : [configPath];
  const watcher = watch !== null ? new ConfigWatcher(watched, () => void sup.reload('watch'), watch) : null;
  if (watcher !== null) {
    sup.beforeRead.push(() => watcher.noteRead());
    sup.accepted.push(() => watcher.noteAccepted());
  }
  const errors = await sup.init();
  if (errors !== null) {
    process.stderr.write(`${configPath}: refusing to start, ${errors.length} problem(s)\n${formatErrors(errors)}\n`);
    return 1;
  }
  let demoServers: import('node:http').Server[] = [];
  if (demo) {
    const { startDemoUpstreams } = await import('./demo/upstreams.js');
    demoServers = await startDemoUpstreams();
    log('info', 'demo upstreams listening', { users: 'http://127.0.0.1:9001', orders: 'http://127.0.0.1:9002' });
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log('warn', 'second signal: exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    log('info', 'shutdown requested', { signal });
    void sup.shutdown(0).then(() => {
      for (const s of demoServers) s.close();
    });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  // Reloads are serialized in the supervisor: signals that arrive while one runs coalesce into the next.
  process.on('SIGHUP', () => void sup.reload('signal'));

  await sup.start();
  const { host = '0.0.0.0', port } = sup.config.listen;
  log('info', 'gateway listening', {
    url: `${sup.config.tls ? 'https' : 'http'}://${host}:${port}`,
    workers: sup.slots.length,
    routes: sup.config.routes.length,
    config: configPath,
  });
  try {
    await startAdmin(sup, adminPort);
  } catch (err) {
    log('error', 'admin API could not start', { error: (err as Error).message });
    await sup.shutdown(1);
    return 1;
  }
  watcher?.start();
  return new Promise<number>(() => {}); // runs until a signal
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: false,
    options: {
      config: { type: 'string', short: 'c' },
      demo: { type: 'boolean' },
      watch: { type: 'boolean' },
      'watch-poll-ms': { type: 'string' },
      json: { type: 'boolean' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = positionals;
  if (values.version || command === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  // `gateway bench --help` is the suite's own usage: bench parses its arguments itself.
  if ((values.help && command !== 'bench') || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 1 : 0;
  }
  const configPath = typeof values.config === 'string' ? values.config : 'config/gateway.json';
  switch (command) {
    case 'start': {
      const pollMs = Number(values['watch-poll-ms'] ?? 5000);
      if (!Number.isInteger(pollMs) || pollMs < 0) {
        process.stderr.write(`--watch-poll-ms: expected an integer >= 0, got ${JSON.stringify(values['watch-poll-ms'])}\n`);
        return 1;
      }
      return cmdStart(configPath, values.demo === true, values.watch === true ? { pollMs } : null);
    }
    case 'validate':
      return cmdValidate(configPath);
    case 'diff':
      return cmdDiff(positionals[1], positionals[2], values.json === true);
    case 'bench': {
      const { runBenchCli } = await import('../bench/cli.js');
      return runBenchCli(argv.slice(argv.indexOf('bench') + 1));
    }
    case 'hash-key': {
      const key = await readStdin();
      if (!key) throw new Error('no key on standard input');
      process.stdout.write(`sha256:${createHash('sha256').update(key).digest('hex')}\n`);
      return 0;
    }
    case 'hash-password': {
      const password = await readStdin();
      if (!password) throw new Error('no password on standard input');
      const N = 16384, r = 8, p = 1;
      const salt = randomBytes(16);
      const hash = scryptSync(password, salt, 32, { N, r, p });
      process.stdout.write(`scrypt:N=${N},r=${r},p=${p}:${salt.toString('base64url')}:${hash.toString('base64url')}\n`);
      return 0;
    }
    default:
      process.stderr.write(`unknown command "${command}"\n\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`gateway: ${err.message}\n`);
    process.exitCode = 1;
  },
);
