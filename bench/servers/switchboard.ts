/**
 * Switchboard under test, in a process of its own: configured from the environment like `switchboard serve`,
 * it reports its webhook URL to the parent over IPC and exits cleanly (writing any --cpu-prof) on SIGTERM.
 */
import { startSwitchboard } from '../../src/app.ts';
import { loadConfig, readEnvironment } from '../../src/config.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { reportListening, stopOnRequest } from './lifecycle.ts';

const config = loadConfig({ env: readEnvironment(process.env, process.cwd()) });
const switchboard = await startSwitchboard(config, createLogger({ level: config.logLevel }), { env: process.env });
stopOnRequest(() => switchboard.close());
reportListening(`${switchboard.url}${config.webhookPath}`);
