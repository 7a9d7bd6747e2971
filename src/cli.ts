#!/usr/bin/env node
/** The `switchboard` command: parses arguments and hands off to src/commands/. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { flagName, readEnvironment, SETTING_NAMES, type Settings } from './config.ts';
import { isSwitchboardError } from './errors.ts';
import { defaultAdminUrl } from './commands/admin-client.ts';
import { listDeliveries, replayDeliveries } from './commands/deliveries.ts';
import { migrate } from './commands/migrate.ts';
import { serve } from './commands/serve.ts';
import { defaultSendOptions, send } from './commands/send.ts';
import { testRules } from './commands/test.ts';
import { listUsage } from './commands/usage.ts';
import { validate } from './commands/validate.ts';

const USAGE = `Usage: switchboard <command> [options]

Commands:
  serve [--dev] [--no-migrate]        run the service (every setting is also a flag: --port, --rules-dir, …);
                                      --no-migrate (MIGRATE_ON_START=false) leaves them to switchboard migrate
  migrate                             apply the schema migrations the DATABASE_URL database lacks, listing them
  validate [dir]                      check the rule files in dir (default RULES_DIR) and exit non-zero on problems
  test [event.json|-|tests.yaml]      dry run: which rules match an event and the params they render;
                                      with no argument, run the rule tests in <rules dir>/tests/*.yaml
       [--rules dir]
  send <event-name|file.json>         post a signed sample event (or a file, byte for byte) as LiveKit does
       [--url URL] [--room NAME] [--participant IDENTITY] [--key KEY] [--secret SECRET]
  deliveries ls                       list the delivery queue of a running Switchboard, newest first
       [--status STATE] [--rule ID] [--target TARGET] [--limit N] [--cursor C] [--json]
  deliveries replay <id> [--force]    run a delivery again with fresh attempts (--force: even one that succeeded)
  deliveries replay --status STATE    … or every delivery matching the filter (at least one of them)
       [--rule ID] [--target TARGET] [--force] [--json]
  usage                               the usage ledger: totals by customer, meter and unit, then the newest records
       [--customer C] [--meter M] [--from TIME] [--to TIME] [--limit N] [--cursor C] [--json]
                                      (TIME: 2025-05-01 or 2025-05-01T12:00:00Z; from inclusive, to exclusive)
                                      deliveries and usage talk to --url (default http://127.0.0.1:$PORT)
                                      with ADMIN_TOKEN (or --admin-token)

Settings come from flags, then the environment, then .env: ${SETTING_NAMES.join(', ')}.`;

const settingOptions: ParseArgsConfig['options'] = Object.fromEntries(
  SETTING_NAMES.map((name) => [flagName(name), { type: 'string' }]),
);

function settingsFromFlags(values: Record<string, unknown>): Settings {
  const settings: Settings = {};
  for (const name of SETTING_NAMES) {
    const value = values[flagName(name)];
    if (typeof value === 'string') settings[name] = value;
  }
  return settings;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const parse = (options: ParseArgsConfig['options']) =>
    parseArgs({ args: rest, options: { ...settingOptions, ...options }, allowPositionals: true, strict: true });

  switch (command) {
    case 'serve': {
      const { values } = parse({ dev: { type: 'boolean' }, 'no-migrate': { type: 'boolean' } });
      const flags = settingsFromFlags(values);
      if (values['no-migrate'] === true) flags.MIGRATE_ON_START = 'false';
      await serve({ flags, dev: values.dev === true });
      return -1;
    }
    case 'migrate': {
      const { values } = parse({});
      const settings = { ...readEnvironment(process.env, process.cwd()), ...settingsFromFlags(values) };
      return migrate({ databaseUrl: settings.DATABASE_URL ?? 'file:./data/switchboard.db' });
    }
    case 'validate': {
      const { values, positionals } = parse({});
      const settings = { ...readEnvironment(process.env, process.cwd()), ...settingsFromFlags(values) };
      return validate({ dir: positionals[0] ?? settings.RULES_DIR ?? './rules', pluginsDir: settings.PLUGINS_DIR ?? './plugins' });
    }
    case 'test': {
      const { values, positionals } = parse({ rules: { type: 'string' } });
      const settings = { ...readEnvironment(process.env, process.cwd()), ...settingsFromFlags(values) };
      return testRules({
        input: positionals[0],
        rulesDir: (values.rules as string | undefined) ?? settings.RULES_DIR ?? './rules',
        pluginsDir: settings.PLUGINS_DIR ?? './plugins',
      });
    }
    case 'send': {
      const { values, positionals } = parse({
        url: { type: 'string' },
        room: { type: 'string' },
        participant: { type: 'string' },
        key: { type: 'string' },
        secret: { type: 'string' },
      });
      if (!positionals[0]) {
        console.error('send needs an event name or a file.json\n\n' + USAGE);
        return 2;
      }
      const defaults = defaultSendOptions({ ...readEnvironment(process.env, process.cwd()), ...settingsFromFlags(values) });
      const response = await send({
        what: positionals[0],
        url: (values.url as string | undefined) ?? defaults.url,
        apiKey: (values.key as string | undefined) ?? defaults.apiKey,
        apiSecret: (values.secret as string | undefined) ?? defaults.apiSecret,
        room: values.room as string | undefined,
        participant: values.participant as string | undefined,
      });
      console.log(`${response.status} ${response.body}`);
      return response.status >= 200 && response.status < 300 ? 0 : 1;
    }
    case 'deliveries': {
      const { values, positionals } = parse({
        url: { type: 'string' },
        status: { type: 'string' },
        rule: { type: 'string' },
        target: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        force: { type: 'boolean' },
        json: { type: 'boolean' },
      });
      const settings = { ...readEnvironment(process.env, process.cwd()), ...settingsFromFlags(values) };
      const client = { url: (values.url as string | undefined) ?? defaultAdminUrl(settings), token: settings.ADMIN_TOKEN };
      const filter = {
        status: values.status as string | undefined,
        rule: values.rule as string | undefined,
        target: values.target as string | undefined,
      };
      const [action, id, ...extra] = positionals;
      if (action === 'ls' && id === undefined) {
        return listDeliveries(client, { ...filter, limit: values.limit as string | undefined, cursor: values.cursor as string | undefined, json: values.json === true });
      }
      if (action === 'replay' && extra.length === 0) {
        return replayDeliveries(client, { ...filter, id, force: values.force === true, json: values.json === true });
      }
      console.error(`deliveries takes ls or replay [id]\n\n${USAGE}`);
      return 2;
    }
    case 'usage': {
      const { values, positionals } = parse({
        url: { type: 'string' },
        customer: { type: 'string' },
        meter: { type: 'string' },
        from: { type: 'string' },
        to: { type: 'string' },
        limit: { type: 'string' },
        cursor: { type: 'string' },
        json: { type: 'boolean' },
      });
      if (positionals.length > 0) {
        console.error(`usage takes no arguments, only options\n\n${USAGE}`);
        return 2;
      }
      const settings = { ...readEnvironment(process.env, process.cwd()), ...settingsFromFlags(values) };
      const client = { url: (values.url as string | undefined) ?? defaultAdminUrl(settings), token: settings.ADMIN_TOKEN };
      const text = (name: string) => values[name] as string | undefined;
      return listUsage(client, {
        customer: text('customer'),
        meter: text('meter'),
        from: text('from'),
        to: text('to'),
        limit: text('limit'),
        cursor: text('cursor'),
        json: values.json === true,
      });
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command "${command}"\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (isSwitchboardError(error)) console.error(`${error.code}: ${error.message}`);
    else if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) console.error(`${(error as Error).message}\n\n${USAGE}`);
    else console.error(error);
    process.exitCode = 1;
  },
);
