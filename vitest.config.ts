import { defineConfig } from 'vitest/config';

/**
 * Tests that spawn processes, start the real server, use PostgreSQL or replicas, or write the disk at length.
 * Everything else under test/ is a unit test: a new test file is one unless it matches a line here.
 */
const INTEGRATION = [
  'test/replicas/**/*.test.ts',
  'test/cli.test.ts',
  'test/default-start.test.ts',
  'test/package.test.ts',
  'test/billing/realistic-day.test.ts',
  'test/engine/{plugins-reload,rules-reload}.test.ts',
  'test/engine/reconcile/reconcile.test.ts',
  'test/engine/retention/catch-up.test.ts',
  'test/engine/delivery/{crash,group-wakeup,worker}.test.ts',
  'test/engine/ingest/prepare.test.ts',
  'test/plugins/{announce-example,billing}.test.ts',
  'test/security/{admin-input,connections,failed-verifications,poison-events,secrets-at-rest,target-secrets,url-template}.test.ts',
  'test/server/{admin,audit,deliveries,health-port,lifecycle,lists,operations,targets,webhook}.test.ts',
  'test/store/{postgres,postgres-ingest,postgres-prune-flush,sqlite,sqlite-durability,storage-faults}.test.ts',
  'test/ui/{access,dashboard}.test.ts',
  'test/telemetry/{logs,metrics,otlp-export,tracing,tracing-off}.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: INTEGRATION } },
      { extends: true, test: { name: 'integration', include: INTEGRATION } },
      // The benchmark tools' own tests: `npm run test:bench`, not part of `npm test`.
      { extends: true, test: { name: 'bench', include: ['bench/test/**/*.test.ts'] } },
    ],
  },
});
