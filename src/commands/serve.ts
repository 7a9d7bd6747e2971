/**
 * `switchboard serve`: runs the service until SIGINT/SIGTERM; SIGHUP reloads the rules. Tracing starts first, from
 * the OTEL_* variables, so the app's spans have somewhere to go; it is flushed last, after the final attempts.
 */
import { startSwitchboard, type Switchboard } from '../app.ts';
import { loadConfig, readEnvironment, type ResolvedSettings } from '../config.ts';
import { createLogger } from '../telemetry/logger.ts';
import { startTracingFromEnvironment } from '../telemetry/tracing.ts';

/** Beyond SHUTDOWN_TIMEOUT, how long a shutdown after a fatal store failure may take before the process exits. */
const FATAL_EXIT_GRACE_MS = 5_000;

export async function serve(options: { settings: ResolvedSettings; dev: boolean }): Promise<void> {
  const config = loadConfig({ env: options.settings, dev: options.dev });
  const log = createLogger({ level: config.logLevel, pretty: config.dev });
  const tracing = await startTracingFromEnvironment(process.env, log);
  let switchboard: Switchboard | undefined;
  switchboard = await startSwitchboard(config, log, {
    // A rule's ${env:NAME} also sees the settings .env holds.
    env: { ...readEnvironment(process.env, process.cwd()), ...process.env },
    watchRules: true,
    // Through the normal shutdown while it can finish, then out regardless: a failing disk may hang it.
    onStoreFatal: () => {
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + FATAL_EXIT_GRACE_MS);
      void (switchboard?.close() ?? Promise.resolve()).finally(() => process.exit(1));
    },
  });

  if (config.dev) {
    const [apiKey] = config.keys.keys();
    console.log(
      `\nSwitchboard (dev) is listening on ${switchboard.url}${config.webhookPath} with API key "${apiKey}".\n` +
        `Send a signed test event from another terminal:\n` +
        `  npm run switchboard -- send room_started --url ${switchboard.url}\n`,
    );
  }

  process.on('SIGHUP', () => void switchboard.rules.reload('SIGHUP'));
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    switchboard.close().then(async () => {
      await tracing?.shutdown();
    }).then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
