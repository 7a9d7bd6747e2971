/** Switchboard under test, configured from the environment like `switchboard serve` (see ../setup.ts). */
import { startSwitchboard } from '../../src/app.ts';
import { loadConfig, readEnvironment } from '../../src/config.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { serveBenchmark } from './lifecycle.ts';

const config = loadConfig({ env: readEnvironment(process.env, process.cwd()) });
const switchboard = await startSwitchboard(config, createLogger({ level: config.logLevel }), { env: process.env });
const { store } = switchboard;
serveBenchmark(`${switchboard.url}${config.webhookPath}`, () => switchboard.close(), {
  // The store's round trips to PostgreSQL so far, by kind; null on SQLite.
  'round trips': () => (store instanceof PostgresStore ? store.roundTrips.snapshot() : null),
});
