#!/usr/bin/env node
/**
 * The `switchboard` command: a table of commands, each handing off to src/commands/. A command loads its module
 * when it runs, so that `--help` and the light commands do not load the service (Express, OpenTelemetry, pg).
 */
import { DEV_API_KEY, DEV_API_SECRET, inlineActionTimeoutMs, ruleEnvironment, SETTING_NAMES } from './config.ts';
import { isSwitchboardError } from './errors.ts';
import { adminClient, type AdminClient } from './commands/admin-client.ts';
import { commandHelp, commandList, defineCommand, flag, runCommand, text, UsageError, type Command } from './commands/command.ts';
import { URL_OPTION, webhookUrl } from './commands/service-url.ts';
import { timeOption } from './commands/time-option.ts';
import { DELIVERY_STATES } from './store/delivery-state.ts';

const ADMIN_SETTINGS = ['PORT', 'ADMIN_TOKEN'] as const;
const TIME_NOTE = 'TIME: 2025-05-01, 2025-05-01T12:00:00Z, or how long ago: 30m, 2h, 7d.';
const SINCE_UNTIL = {
  since: text('TIME', 'only those created at or after TIME'),
  until: text('TIME', 'only those created before TIME'),
};
const DELIVERY_FILTER = {
  status: text('STATE', `only deliveries in this state: ${DELIVERY_STATES.join(', ')}`),
  rule: text('ID', 'only deliveries of this rule'),
  target: text('TARGET', 'only deliveries to this target'),
  event: text('EVENT_ID', 'only deliveries of this event'),
  ...SINCE_UNTIL,
};
const JSON_OPTION = flag("print the admin API's results as JSON");
const PAGE = { limit: text('N', 'at most N rows'), cursor: text('C', 'the page after the one that printed "more: --cursor C"') };
const REASON = text('TEXT', 'why, for the audit log and the targets list');

/** `--since`/`--until` as ISO 8601 times, a relative one (`2h`) counted back from now. */
function timeRange(values: { since?: string; until?: string }): { since?: string; until?: string } {
  return {
    since: values.since === undefined ? undefined : timeOption(values.since),
    until: values.until === undefined ? undefined : timeOption(values.until),
  };
}

/** What the delivery filter options say, for the admin API. */
function deliveryFilter(values: { status?: string; rule?: string; target?: string; event?: string; since?: string; until?: string }) {
  return { status: values.status, rule: values.rule, target: values.target, event: values.event, ...timeRange(values) };
}

/** A command that reads one thing of a running Switchboard by its `<arg>` (`deliveries show <id>`). */
function showCommand(name: string, arg: string, summary: string, show: (client: AdminClient, value: string, json: boolean) => Promise<number>) {
  return defineCommand({
    name,
    args: [arg],
    summary,
    options: { url: URL_OPTION, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, args: [value], settings }) => show(adminClient(settings, values.url), value, values.json === true),
  });
}

/** `targets enable|disable <target>`. */
function targetSwitchCommand(disabled: boolean) {
  return defineCommand({
    name: `targets ${disabled ? 'disable' : 'enable'}`,
    args: ['<target>'],
    summary: disabled
      ? 'disable a target: its deliveries wait until it is enabled'
      : 'enable a target, its circuit closed: its waiting deliveries run',
    options: { url: URL_OPTION, reason: REASON, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, args: [target], settings }) =>
      (await import('./commands/targets.ts')).switchTarget(adminClient(settings, values.url), {
        target,
        disabled,
        reason: values.reason,
        json: values.json === true,
      }),
  });
}

const COMMANDS: readonly Command[] = [
  defineCommand({
    name: 'serve',
    args: [],
    summary: 'run the service until SIGINT/SIGTERM (SIGHUP reloads the rules)',
    options: {
      dev: flag('development mode: the LiveKit dev credentials devkey/secret when none are set, readable logs'),
      'no-migrate': flag('leave the schema migrations to `switchboard migrate` (MIGRATE_ON_START=false)'),
    },
    settings: SETTING_NAMES,
    async run({ values, settings }) {
      const { serve } = await import('./commands/serve.ts');
      return serve({ settings: values['no-migrate'] ? { ...settings, MIGRATE_ON_START: 'false' } : settings, dev: values.dev === true });
    },
  }),
  defineCommand({
    name: 'migrate',
    args: [],
    summary: "apply the schema migrations DATABASE_URL's database lacks, listing them",
    options: {},
    settings: ['DATABASE_URL'],
    run: async ({ settings }) => (await import('./commands/migrate.ts')).migrate({ databaseUrl: settings.DATABASE_URL }),
  }),
  defineCommand({
    name: 'validate',
    args: ['[dir]'],
    summary: 'check the rule files in dir (default RULES_DIR) and exit non-zero on problems',
    options: {},
    settings: ['RULES_DIR', 'PLUGINS_DIR'],
    run: async ({ args: [dir], settings }) =>
      (await import('./commands/validate.ts')).validate({ dir: dir ?? settings.RULES_DIR, pluginsDir: settings.PLUGINS_DIR, env: ruleEnvironment(settings) }),
  }),
  defineCommand({
    name: 'test',
    args: ['[event.json|-|tests.yaml]'],
    summary: 'dry run: which rules match an event (a file, or - for stdin), the params they render, the usage they would bill',
    notes: ['With no argument, or a .yaml file, it runs rule tests: by default <rules dir>/tests/*.yaml.'],
    options: { rules: text('DIR', 'the rules to test (default RULES_DIR)') },
    settings: ['RULES_DIR', 'PLUGINS_DIR', 'INLINE_ACTION_TIMEOUT'],
    run: async ({ values, args: [input], settings }) =>
      (await import('./commands/test.ts')).testRules({
        input,
        rulesDir: values.rules ?? settings.RULES_DIR,
        pluginsDir: settings.PLUGINS_DIR,
        env: ruleEnvironment(settings),
        prepareTimeoutMs: inlineActionTimeoutMs(settings),
      }),
  }),
  defineCommand({
    name: 'send',
    args: ['<event-name|file.json>'],
    summary: 'post a signed sample event (or a file, byte for byte) as LiveKit does',
    notes: ['A --url with a path of its own (not just /) is taken as the whole webhook URL, as send took it before.'],
    options: {
      url: { ...URL_OPTION, help: `${URL_OPTION.help}; the event goes to its WEBHOOK_PATH` },
      'webhook-url': text('URL', 'the whole webhook URL, instead of --url and WEBHOOK_PATH'),
      room: text('NAME', "the sample's room name"),
      participant: text('IDENTITY', "the sample's participant identity"),
      key: text('KEY', `the API key to sign with (default LIVEKIT_API_KEY, else ${DEV_API_KEY})`),
      secret: text('SECRET', `its secret (default LIVEKIT_API_SECRET, else the dev secret)`),
    },
    settings: ['PORT', 'WEBHOOK_PATH', 'LIVEKIT_API_KEY', 'LIVEKIT_API_SECRET'],
    run: async ({ values, args: [what], settings }) =>
      (await import('./commands/send.ts')).send({
        what,
        url: webhookUrl(settings, { url: values.url, webhookUrl: values['webhook-url'] }),
        apiKey: values.key ?? settings.LIVEKIT_API_KEY ?? DEV_API_KEY,
        apiSecret: values.secret ?? settings.LIVEKIT_API_SECRET ?? DEV_API_SECRET,
        room: values.room,
        participant: values.participant,
      }),
  }),
  defineCommand({
    name: 'deliveries ls',
    args: [],
    summary: 'list the delivery queue of a running Switchboard, newest first',
    notes: [TIME_NOTE],
    options: { url: URL_OPTION, ...DELIVERY_FILTER, ...PAGE, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/deliveries.ts')).listDeliveries(adminClient(settings, values.url), {
        ...deliveryFilter(values),
        limit: values.limit,
        cursor: values.cursor,
        json: values.json === true,
      }),
  }),
  defineCommand({
    name: 'deliveries replay',
    args: ['[id]'],
    summary: 'run a delivery again with fresh attempts, or every delivery the filter matches',
    notes: ['Give an id, or at least one of --status, --rule, --target, --event, --since, --until: never everything by accident.', TIME_NOTE],
    options: { url: URL_OPTION, ...DELIVERY_FILTER, force: flag('replay even a delivery that succeeded'), json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, args: [id], settings }) =>
      (await import('./commands/deliveries.ts')).replayDeliveries(adminClient(settings, values.url), {
        id,
        ...deliveryFilter(values),
        force: values.force === true,
        json: values.json === true,
      }),
  }),
  showCommand('deliveries show', '<id>', 'one delivery of a running Switchboard, with every attempt it took', async (client, id, json) =>
    (await import('./commands/deliveries.ts')).showDelivery(client, { id, json })),
  showCommand('deliveries cancel', '<id>', 'cancel a delivery that has not run yet (pending or waiting for a retry)', async (client, id, json) =>
    (await import('./commands/deliveries.ts')).cancelDelivery(client, { id, json })),
  defineCommand({
    name: 'targets ls',
    args: [],
    summary: 'list the targets of a running Switchboard: switch, circuit, failures in a row',
    options: { url: URL_OPTION, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/targets.ts')).listTargets(adminClient(settings, values.url), { json: values.json === true }),
  }),
  targetSwitchCommand(false),
  targetSwitchCommand(true),
  defineCommand({
    name: 'events ls',
    args: [],
    summary: 'search the events a running Switchboard recorded, newest first',
    notes: [`${TIME_NOTE} --since/--until are on when the event was received.`],
    options: {
      url: URL_OPTION,
      room: text('NAME', 'only events of this room'),
      participant: text('IDENTITY', 'only events of this participant'),
      type: text('EVENT', 'only events of this type (participant_joined)'),
      since: text('TIME', 'only events received at or after TIME'),
      until: text('TIME', 'only events received before TIME'),
      ...PAGE,
      json: JSON_OPTION,
    },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/records.ts')).listEvents(adminClient(settings, values.url), {
        room: values.room,
        participant: values.participant,
        type: values.type,
        ...timeRange(values),
        limit: values.limit,
        cursor: values.cursor,
        json: values.json === true,
      }),
  }),
  showCommand('events show', '<id>', 'one recorded event: matched rules, each action\'s outcome, its payload', async (client, id, json) =>
    (await import('./commands/records.ts')).showEvent(client, { id, json })),
  defineCommand({
    name: 'sessions ls',
    args: [],
    summary: 'list the sessions of a running Switchboard by key',
    options: { url: URL_OPTION, status: text('STATUS', 'only sessions with this status (live)'), ...PAGE, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/records.ts')).listSessions(adminClient(settings, values.url), {
        status: values.status,
        limit: values.limit,
        cursor: values.cursor,
        json: values.json === true,
      }),
  }),
  showCommand('sessions show', '<key>', 'one session with its history, newest first', async (client, key, json) =>
    (await import('./commands/records.ts')).showSession(client, { key, json })),
  defineCommand({
    name: 'audit',
    args: [],
    summary: 'the audit log of a running Switchboard: every admin change, newest first',
    options: { url: URL_OPTION, ...PAGE, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/records.ts')).listAudit(adminClient(settings, values.url), {
        limit: values.limit,
        cursor: values.cursor,
        json: values.json === true,
      }),
  }),
  defineCommand({
    name: 'rooms ls',
    args: [],
    summary: 'the rooms a running Switchboard has seen, newest first, as its events and reconciliation draw them',
    options: { url: URL_OPTION, status: text('STATUS', 'only rooms live or finished'), ...PAGE, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/rooms.ts')).listRooms(adminClient(settings, values.url), {
        status: values.status,
        limit: values.limit,
        cursor: values.cursor,
        json: values.json === true,
      }),
  }),
  defineCommand({
    name: 'rooms show',
    args: ['<name>'],
    summary: 'one room: who is present, its egress and ingress, its last starts and ends',
    options: { url: URL_OPTION, json: JSON_OPTION },
    settings: ADMIN_SETTINGS,
    run: async ({ values, args: [name], settings }) =>
      (await import('./commands/rooms.ts')).showRoom(adminClient(settings, values.url), name, { json: values.json === true }),
  }),
  defineCommand({
    name: 'usage',
    args: [],
    summary: 'the usage ledger of a running Switchboard: totals by customer, meter and unit, then the newest records',
    notes: [`${TIME_NOTE} --from is inclusive, --to exclusive.`],
    options: {
      url: URL_OPTION,
      customer: text('C', 'only this customer'),
      meter: text('M', 'only this meter'),
      from: text('TIME', 'only usage that occurred at or after TIME'),
      to: text('TIME', 'only usage that occurred before TIME'),
      ...PAGE,
      json: JSON_OPTION,
    },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/usage.ts')).listUsage(adminClient(settings, values.url), {
        customer: values.customer,
        meter: values.meter,
        from: values.from === undefined ? undefined : timeOption(values.from),
        to: values.to === undefined ? undefined : timeOption(values.to),
        limit: values.limit,
        cursor: values.cursor,
        json: values.json === true,
      }),
  }),
  defineCommand({
    name: 'prune',
    args: [],
    summary: 'remove now, straight on the database, what the RETENTION_* settings let go (the service does it every PRUNE_INTERVAL)',
    notes: ['Unfinished deliveries are never removed, and an event id is remembered at least 24h for dedupe.'],
    options: { 'dry-run': flag('count what would go, by table, and remove nothing'), json: JSON_OPTION },
    settings: ['DATABASE_URL', 'RETENTION_EVENTS', 'RETENTION_DEAD', 'RETENTION_SESSIONS', 'RETENTION_USAGE'],
    run: async ({ values, settings }) =>
      (await import('./commands/prune.ts')).prune(settings, { dryRun: values['dry-run'] === true, json: values.json === true }),
  }),
  defineCommand({
    name: 'erase',
    args: [],
    summary: "erase a participant's or a room's data from a running Switchboard's store (event bodies, outcomes, deliveries, attempts)",
    notes: ['The usage ledger keeps its numbers; deliveries still queued for them are cancelled with E_ERASED. Audited.'],
    options: {
      url: URL_OPTION,
      participant: text('IDENTITY', "the participant's identity"),
      room: text('NAME', "the room's name"),
      json: JSON_OPTION,
    },
    settings: ADMIN_SETTINGS,
    run: async ({ values, settings }) =>
      (await import('./commands/erase.ts')).erase(adminClient(settings, values.url), {
        participant: values.participant,
        room: values.room,
        json: values.json === true,
      }),
  }),
];

const HELP = `Usage: switchboard <command> [options]

Commands:
${commandList(COMMANDS)}

Every command answers --help. Settings come from flags, then the environment, then .env; each is also a flag
(--port, --rules-dir, …):
${wrap(SETTING_NAMES.map((name) => `${name},`), 116).slice(0, -1)}`;

/** `words` in lines of at most `width` characters, each indented by two spaces. */
function wrap(words: string[], width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = '';
    }
    line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].map((text) => `  ${text}`).join('\n');
}

/** The command `argv` names, by its first two words or its first. */
function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  const [first, second] = argv;
  const twoWords = COMMANDS.find((command) => command.name === `${first} ${second}`);
  if (twoWords) return { command: twoWords, rest: argv.slice(2) };
  const oneWord = COMMANDS.find((command) => command.name === first);
  return oneWord && { command: oneWord, rest: argv.slice(1) };
}

/** `deliveries --help` shows each of its actions; `deliveries` with none is a usage error. */
function actionsOf(word: string): Command[] {
  return COMMANDS.filter((command) => command.name.startsWith(`${word} `));
}

async function main(argv: string[]): Promise<number | undefined> {
  const [first, second] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    console.log(HELP);
    return first === undefined ? 2 : 0;
  }
  const found = findCommand(argv);
  if (found) return runCommand(found.command, found.rest);
  const actions = actionsOf(first);
  if (actions.length > 0 && (second === '--help' || second === '-h')) {
    console.log(actions.map(commandHelp).join('\n\n'));
    return 0;
  }
  if (actions.length > 0) {
    throw new UsageError(`takes ${actions.map((command) => command.name.split(' ')[1]).join(' or ')}`, first);
  }
  throw new UsageError(`unknown command "${first}"`);
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      const command = error.command ? ` ${error.command}` : '';
      console.error(`switchboard${command}: ${error.message}\nsee: switchboard${command} --help`);
      process.exitCode = 2;
      return;
    }
    if (isSwitchboardError(error)) console.error(`${error.code}: ${error.message}`);
    else console.error(error);
    process.exitCode = 1;
  },
);
