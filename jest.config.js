// Two projects: `unit` needs nothing running; `integration` runs against the
// real stack (PostgreSQL, Kafka, Kafka Connect), which its global setup
// reuses when one is already running from the default state folder, or starts.
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
};
const packages = '{common,stack,migrations,monolith,cdc,ownership,backsync,project,strangler-proxy,observability,contracts,cli,extracted/*}';
// The stack's state (PostgreSQL's pg_logical/snapshots/*.snap among it) and the jar cache are not sources.
const ignore = ['<rootDir>/.strangler/', '<rootDir>/.cache/', '<rootDir>/node_modules/'];

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 120000,
  reporters: ['default', '<rootDir>/e2e/support/summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      transform,
      testEnvironment: 'node',
      modulePathIgnorePatterns: ignore,
      testPathIgnorePatterns: ignore,
      testMatch: [`<rootDir>/${packages}/src/**/*.test.ts`],
    },
    {
      displayName: 'integration',
      transform,
      testEnvironment: 'node',
      modulePathIgnorePatterns: ignore,
      testPathIgnorePatterns: ignore,
      testMatch: [`<rootDir>/${packages}/test/**/*.test.ts`, '<rootDir>/e2e/**/*.test.ts'],
      globalSetup: '<rootDir>/e2e/support/global-setup.ts',
      globalTeardown: '<rootDir>/e2e/support/global-teardown.ts',
      slowTestThreshold: 30,
    },
  ],
};
