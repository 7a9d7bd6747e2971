/** The benchmarks' command-line flags. `--help` prints the script's opening comment, which lists them. */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

/** `strings` take a value (given twice, the last counts; `all` returns every one), `switches` none. */
export function readFlags<S extends string, B extends string = never>(strings: readonly S[], switches: readonly B[] = [], allowPositionals = false) {
  if (process.argv.includes('--help')) {
    console.log(/\/\*\*([\s\S]*?)\*\//.exec(readFileSync(process.argv[1], 'utf8'))?.[1].replace(/^ \* ?/gm, '').trim());
    process.exit(0);
  }
  const options = Object.fromEntries([
    ...strings.map((name) => [name, { type: 'string', multiple: true }] as const),
    ...switches.map((name) => [name, { type: 'boolean' }] as const),
  ]);
  const { values, positionals } = parseArgs({ options, allowPositionals }) as { values: Record<string, string[] | boolean | undefined>; positionals: string[] };
  const all = (name: S) => (values[name] as string[] | undefined) ?? [];
  const text = (name: S, fallback?: string) => all(name).at(-1) ?? fallback;
  return {
    positionals,
    all,
    text,
    on: (name: B) => values[name] === true,
    /** A positive number (a whole one if `whole`), or a message naming the flag. */
    number(name: S, fallback: number, whole = false): number {
      const value = text(name);
      const number = Number(value ?? fallback);
      if (!Number.isFinite(number) || number <= 0 || (whole && !Number.isInteger(number))) {
        throw new Error(`--${name} is "${value}": expected a positive ${whole ? 'whole ' : ''}number`);
      }
      return number;
    },
    /** One of `choices`, the first by default. */
    choice<C extends string>(name: S, choices: readonly C[]): C {
      const value = text(name, choices[0]) as C;
      if (!choices.includes(value)) throw new Error(`--${name} is "${value}": expected ${choices.join(', ')}`);
      return value;
    },
  };
}
