/**
 * `switchboard serve`: runs the service until SIGINT/SIGTERM; SIGHUP reloads the rules. Tracing starts first, from
 * the OTEL_* variables, so the app's spans have somewhere to go; it is flushed last, after the final attempts.
 */
import { startSwitchboard, type Switchboard } from '../app.ts';
import { loadConfig, ruleEnvironment, shortSecretKeys, type Config, type ResolvedSettings } from '../config.ts';
import { isSwitchboardError } from '../errors.ts';
import { createLogger, type Logger } from '../telemetry/logger.ts';
import { tracingRequested } from '../telemetry/tracing-request.ts';
import { devAdminToken, type DevAdminToken } from './dev-admin-token.ts';
import { switchboardCommand } from './invocation.ts';

/** Resolves once serving (undefined), or 1 when start-up failed and said why. */
export async function serve(options: { settings: ResolvedSettings; dev: boolean }): Promise<number | undefined> {
  try {
    await start(options);
    return undefined;
  } catch (error) {
    // Dev mode's logs are for reading: the command line prints the error as it prints any other.
    if (options.dev) throw error;
    logStartupFailure(error);
    return 1;
  }
}

/** Beyond SHUTDOWN_TIMEOUT, how long a shutdown after a fatal store failure may take before the process exits. */
const FATAL_EXIT_GRACE_MS = 5_000;

async function start(options: { settings: ResolvedSettings; dev: boolean }): Promise<void> {
  const adminToken = options.dev ? devAdminToken(options.settings.ADMIN_TOKEN, process.cwd()) : undefined;
  const settings = adminToken ? { ...options.settings, ADMIN_TOKEN: adminToken.token } : options.settings;
  const config = loadConfig({ env: settings, dev: options.dev });
  const log = createLogger({ level: config.logLevel, pretty: config.dev });
  warnAboutConfig(config, log);
  const tracing = tracingRequested(process.env)
    ? await (await import('../telemetry/tracing.ts')).startTracingFromEnvironment(process.env, log)
    : undefined;
  let switchboard: Switchboard | undefined = undefined;
  switchboard = await startSwitchboard(config, log, {
    env: ruleEnvironment(settings),
    watchRules: true,
    // Through the normal shutdown while it can finish, then out regardless: a failing disk may hang it.
    onStoreFatal: () => {
      setTimeout(() => process.exit(1), config.shutdownTimeoutMs + FATAL_EXIT_GRACE_MS);
      void (switchboard?.close() ?? Promise.resolve()).finally(() => process.exit(1));
    },
  });
  const running = switchboard;
  if (config.dev) printDevBanner(config, running, adminToken!);

  process.on('SIGHUP', () => void running.rules.reload('SIGHUP'));
  const stop = (signal: string) => {
    log.info({ signal }, 'shutting down');
    running.close().then(async () => {
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

/**
 * With JSON logs a failed start is one JSON line too, so the platform collecting them sees why. It goes to stderr,
 * where the plain-text message went, at `fatal`, whatever LOG_LEVEL says (it may be the setting that was wrong).
 */
function logStartupFailure(error: unknown): void {
  const log = createLogger({ level: 'fatal', destination: process.stderr });
  if (isSwitchboardError(error)) log.fatal({ errcode: error.code, details: error.details }, `${error.code}: ${error.message}`);
  else log.fatal({ err: error }, `start-up failed: ${(error as Error).message}`);
}

function warnAboutConfig(config: Config, log: Logger): void {
  for (const apiKey of shortSecretKeys(config)) {
    log.warn({ api_key: apiKey }, 'the LiveKit API secret of this key is shorter than 32 characters: a short secret can be guessed; use one as long as livekit-server generates');
  }
}

function printDevBanner(config: Config, switchboard: Switchboard, admin: DevAdminToken): void {
  const [apiKey] = config.keys.keys();
  const token = admin.writtenTo
    ? `Admin API and dashboard token (new, saved as ADMIN_TOKEN in ${admin.writtenTo}, so commands run here use it):\n  ${admin.token}\n`
    : `Admin API and dashboard: the ADMIN_TOKEN of your settings.\n`;
  console.log(
    `\nSwitchboard (dev) is listening on ${switchboard.url}${config.webhookPath} with API key "${apiKey}".\n` +
      `Send a signed test event from another terminal:\n` +
      `  ${switchboardCommand()} send room_started --url ${switchboard.url}\n` +
      token +
      `Dashboard: ${switchboard.url}/ui\n`,
  );
}
