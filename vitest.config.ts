import { defineConfig } from 'vitest/config';

/**
 * The suites that exercise the proxy against real upstreams, rerun on the undici engine (the
 * default for http:// targets is the native engine): test/helpers/gateway.ts adds `engine` to
 * every upstream of the configs it starts when GATEWAY_TEST_ENGINE is set.
 */
export const BOTH_ENGINES = [
  'test/integration/proxy.test.ts',
  'test/integration/streaming.test.ts',
  'test/fault/upstream-failures.test.ts',
  'test/fault/client-chaos.test.ts',
  'test/regressions/issue-8-upstream-answers.test.ts',
  'test/regressions/issue-8-timeouts.test.ts',
  'test/regressions/issue-8-slow-clients.test.ts',
  'test/regressions/issue-8-request-head.test.ts',
  'test/regressions/close-after-streamed-answer.test.ts',
  'test/integration/resilience-retries.test.ts',
  'test/integration/aggregate.test.ts',
  'test/integration/process-model.test.ts',
];

export default defineConfig({
  test: {
    // Integration tests start real gateways (primary + 2 workers) and upstreams: on a 2-core
    // machine two test files at a time is the most that keeps them from starving each other.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      // Everything on the defaults (native for http:// upstreams).
      { extends: true, test: { name: 'native', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'undici', include: BOTH_ENGINES, env: { GATEWAY_TEST_ENGINE: 'undici' } } },
    ],
  },
});
