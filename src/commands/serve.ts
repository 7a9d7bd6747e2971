/**
 * `switchboard serve`: runs the service until SIGINT/SIGTERM; SIGHUP reloads the rules. Tracing starts first, from
 * the OTEL_* variables, so the app's spans have somewhere to go; it is flushed last, after the final attempts.
 */
import { startSwitchboard } from '../app.ts';
import { loadConfig, ruleEnvironment, type ResolvedSettings } from '../config.ts';
import { createLogger } from '../telemetry/logger.ts';
import { startTracingFromEnvironment } from '../telemetry/tracing.ts';

export async function serve(options: { settings: ResolvedSettings; dev: boolean }): Promise<void> {
  const config = loadConfig({ env: options.settings, dev: options.dev });
  const log = createLogger({ level: config.logLevel, pretty: config.dev });
  const tracing = await startTracingFromEnvironment(process.env, log);
  const switchboard = await startSwitchboard(config, log, {
    env: ruleEnvironment(options.settings),
    watchRules: true,
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
