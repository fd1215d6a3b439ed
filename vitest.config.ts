import { defineConfig } from 'vitest/config';

// Three projects: `unit` never touches the network; `integration` talks to the real Kafka,
// Schema Registry and ClickHouse, which its global setup starts when they are not running;
// `e2e` drives the dashboard in Chromium against the real API over the same services.
export default defineConfig({
  test: {
    // Tests log warnings and errors only; set VIEWPULSE_LOG_LEVEL to see more.
    env: { VIEWPULSE_LOG_LEVEL: process.env.VIEWPULSE_LOG_LEVEL ?? 'warn' },
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/faults/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          // Tests share the real services; files run one at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          // the same real services; Chromium from Debian's package (infra/chromium.ts)
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 600_000,
          fileParallelism: false,
          // after unit and integration: the fault tests take ClickHouse down for 30 s
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
