/**
 * `gateway` command line: start | validate | bench | hash-key | hash-password | --version.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { readGatewayConfig, formatErrors } from './config/index.js';
import { Supervisor } from './primary/supervisor.js';
import { dryRunCompile } from './runtime/dry-run.js';
import { ServiceHost } from './runtime/services.js';
import { startAdmin } from './primary/admin.js';
import { log } from './observability/log.js';

const USAGE = `Usage: gateway <command> [options]

Commands:
  start -c FILE        start the gateway (primary + workers) on FILE
                       --demo also starts the demo upstreams of config/gateway.json
  validate -c FILE     check FILE; print every problem as "pointer: message"; exit 1 if any
  bench [options]      run the load suite (see docs/benchmarking.md)
  hash-key             read an API key on stdin, print its config value (sha256:<hex>)
  hash-password        read a password on stdin, print its config value (scrypt:...)
  --version            print the version
`;

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

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

async function cmdStart(configPath: string, demo: boolean): Promise<number> {
  const sup = new Supervisor({ configPath });
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
    await startAdmin(sup);
  } catch (err) {
    log('error', 'admin API could not start', { error: (err as Error).message });
    await sup.shutdown(1);
    return 1;
  }
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
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command] = positionals;
  if (values.version || command === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined && !values.help ? 1 : 0;
  }
  const configPath = typeof values.config === 'string' ? values.config : 'config/gateway.json';
  switch (command) {
    case 'start':
      return cmdStart(configPath, values.demo === true);
    case 'validate':
      return cmdValidate(configPath);
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
