/** Switchboard under test, configured from the environment like `switchboard serve` (see ../server-process.ts). */
import { startSwitchboard } from '../../src/app.ts';
import { loadConfig, readEnvironment } from '../../src/config.ts';
import { PostgresStore } from '../../src/store/postgres/store.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { ROUND_TRIPS_QUESTION } from '../round-trips.ts';
import { reportListening, stopOnRequest } from './lifecycle.ts';

const config = loadConfig({ env: readEnvironment(process.env, process.cwd()) });
const switchboard = await startSwitchboard(config, createLogger({ level: config.logLevel }), { env: process.env });
stopOnRequest(() => switchboard.close());
// The benchmark's question: the store's round trips so far (PostgreSQL only; null on SQLite).
process.on('message', (question: { type?: string }) => {
  if (question.type !== ROUND_TRIPS_QUESTION.type) return;
  process.send!(switchboard.store instanceof PostgresStore ? switchboard.store.roundTrips.snapshot() : null);
});
reportListening(`${switchboard.url}${config.webhookPath}`);
