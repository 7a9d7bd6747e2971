/**
 * What a `switchboard` command is (name, arguments, options, run) and what every command gets from that one
 * description: its flags parsed, its settings resolved, its `--help` written, its usage errors worded the same.
 */
import { parseArgs } from 'node:util';
import { flagName, readSettings, SETTING_NAMES, SETTINGS, type ResolvedSettings, type SettingName, type Settings } from '../config.ts';

interface Option {
  type: 'string' | 'boolean';
  /** What a string option's value is, as help shows it: `URL`, `NAME`. */
  value?: string;
  help: string;
}

/** `--name VALUE`. */
export function text(value: string, help: string): Option & { type: 'string' } {
  return { type: 'string', value, help };
}

/** `--name`, on or off. */
export function flag(help: string): Option & { type: 'boolean' } {
  return { type: 'boolean', help };
}

type Options = Record<string, Option>;
type Value<O extends Option> = [O['type']] extends ['boolean'] ? boolean : [O['type']] extends ['string'] ? string : string | boolean;
type Values<O extends Options> = { [Name in keyof O]?: Value<O[Name]> };

export interface Command<O extends Options = Options> {
  /** One word, or two for a command with actions (`deliveries ls`). */
  name: string;
  /** Its arguments as help shows them: `<file>` is required, `[dir]` optional. */
  args: string[];
  summary: string;
  /** Lines of help below the options. */
  notes?: string[];
  options: O;
  /** The settings it reads, listed in its help with their defaults (every setting is accepted as a flag). */
  settings: readonly SettingName[];
  /** The exit code, or undefined for a command that keeps running (serve). */
  run(input: { values: Values<O>; args: string[]; settings: ResolvedSettings }): Promise<number | undefined>;
}

/** Checks `command` against its own options, so that `run` sees the values' types. */
export function defineCommand<O extends Options>(command: Command<O>): Command<O> {
  return command;
}

/** A command line that cannot run: printed as one line, then where the help of `command` (or of all) is. */
export class UsageError extends Error {
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/** Parses `argv` (what follows the command's name) by the command's description and runs it. */
export async function runCommand(command: Command, argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseCommandLine(command, argv);
  const usageError = (message: string) => new UsageError(message, command.name);
  if (values.help === true) {
    console.log(commandHelp(command));
    return 0;
  }
  const required = command.args.filter((arg) => arg.startsWith('<'));
  if (positionals.length < required.length) throw usageError(`needs ${required.join(' ')}`);
  if (positionals.length > command.args.length) {
    const extra = positionals.slice(command.args.length).join(' ');
    throw usageError(command.args.length === 0 ? `takes no arguments, only options (got ${extra})` : `takes ${command.args.join(' ')} (got also ${extra})`);
  }
  const flags: Settings = {};
  for (const name of SETTING_NAMES) {
    const value = values[flagName(name)];
    if (typeof value === 'string') flags[name] = value;
  }
  return command.run({ values, args: positionals, settings: readSettings(flags) });
}

function parseCommandLine(command: Command, argv: string[]) {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const name of SETTING_NAMES) options[flagName(name)] = { type: 'string' };
  for (const [name, option] of Object.entries(command.options)) options[name] = { type: option.type };
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // Only the first sentence: the rest of Node's message is about `--`, which none of our arguments needs.
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message.split('. ')[0], command.name);
    throw error;
  }
}

export function commandHelp(command: Command): string {
  const options = Object.entries(command.options).map(([name, option]): [string, string] => [
    `--${name}${option.value ? ` ${option.value}` : ''}`,
    option.help,
  ]);
  const settings = command.settings.map((name): [string, string] => [
    `--${flagName(name)} ${name}`,
    SETTINGS[name] === undefined ? 'no default' : `default ${SETTINGS[name]}`,
  ]);
  return [
    `Usage: switchboard ${[command.name, ...command.args].join(' ')} [options]`,
    '',
    `${command.summary[0].toUpperCase()}${command.summary.slice(1)}.`,
    ...(options.length > 0 ? ['', 'Options:', ...columns(options)] : []),
    ...(settings.length > 0 ? ['', 'Settings (a flag wins over the environment, which wins over .env):', ...columns(settings)] : []),
    ...(command.notes ? ['', ...command.notes] : []),
  ].join('\n');
}

export function commandList(commands: readonly Command[]): string {
  return columns(commands.map((command) => [[command.name, ...command.args].join(' '), command.summary])).join('\n');
}

/** Two columns, the first padded to the widest entry. */
function columns(rows: Array<[string, string]>): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`.trimEnd());
}
