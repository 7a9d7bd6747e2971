/**
 * Glob matching in time linear in the value, whatever the pattern: a rule's pattern is compiled once into a
 * nondeterministic automaton (Thompson's construction) and a value is read once, character by character, keeping
 * the set of states reachable so far. There is no backtracking, so `*-*-*-prod` against a long run of dashes costs
 * what any other value of that length costs.
 *
 * The syntax is picomatch's, as rules use it: `*`, `**`, `?`, `[a-z]` (`[^…]` negates, `[[:alpha:]]`), `{a,b}`,
 * `{a..c}`, `(a|b)`, `?(…)`, `*(…)`, `+(…)`, `@(…)` and `\` escapes. `!(…)` and numeric ranges are refused.
 */

export interface GlobSyntax {
  /** The character `*` and `?` do not cross: `/` in values, `.` in event names. */
  separator: string;
  /** Whether `*` crosses the separator (values: yes; event names: only `**` does). */
  starCrossesSeparator: boolean;
}

/** A test of one UTF-16 code unit, as a regex without the `u` flag reads a string. */
type CharTest = (code: number) => boolean;

type Node =
  | { kind: 'char'; test: CharTest }
  | { kind: 'star'; test: CharTest }
  | { kind: 'alternatives'; options: Node[][] }
  | { kind: 'repeat'; min: 0 | 1; many: boolean; options: Node[][] };

type State = { test: CharTest; next: State } | { split: State[] } | { match: true };

/** Compiles a pattern into a matcher; throws Error (its message says why) for a pattern that is not a valid glob. */
export function compileAutomaton(pattern: string, syntax: GlobSyntax): (value: string) => boolean {
  const parser = new Parser(pattern, syntax);
  const nodes = parser.sequence('');
  const automaton = new Automaton(build(nodes, { match: true }));
  // As in picomatch, a glob never matches the empty string: `*` means "some value".
  return (value) => value !== '' && automaton.matches(value);
}

// JavaScript's `.`, which picomatch's `*` compiles to: any character but a line terminator.
const anyButLineEnd: CharTest = (c) => c !== 0x0a && c !== 0x0d && c !== 0x2028 && c !== 0x2029;

const POSIX_CLASSES: Record<string, RegExp> = {
  alnum: /[a-zA-Z0-9]/,
  alpha: /[a-zA-Z]/,
  digit: /[0-9]/,
  lower: /[a-z]/,
  upper: /[A-Z]/,
  space: /\s/,
  word: /\w/,
  xdigit: /[a-fA-F0-9]/,
};

class Parser {
  private at = 0;
  private readonly pattern: string;
  private readonly syntax: GlobSyntax;

  constructor(pattern: string, syntax: GlobSyntax) {
    this.pattern = pattern;
    this.syntax = syntax;
  }

  /** Nodes up to one of `stops` (not consumed) or the end. */
  sequence(stops: string): Node[] {
    const nodes: Node[] = [];
    while (this.at < this.pattern.length && !stops.includes(this.pattern[this.at])) {
      const char = this.pattern[this.at];
      const following = this.pattern[this.at + 1];
      const globstar = this.trailingGlobstar(stops);
      if (globstar !== undefined) {
        nodes.push(globstar);
      } else if ('?*+@!'.includes(char) && following === '(') {
        this.at += 2;
        nodes.push(this.extglob(char));
      } else if (char === '*') {
        nodes.push(...this.star());
      } else if (char === '?') {
        this.at += 1;
        nodes.push({ kind: 'char', test: this.notSeparator });
      } else if (char === '[') {
        nodes.push(this.bracket());
      } else if (char === '{') {
        nodes.push(...this.brace());
      } else if (char === '(') {
        this.at += 1;
        nodes.push({ kind: 'alternatives', options: this.group(')') });
      } else if (char === ')' || char === ']') {
        throw new Error(`missing opening "${char === ')' ? '(' : '['}": use "\\${char}" to match it literally`);
      } else {
        nodes.push(literal(this.escaped()));
      }
    }
    return nodes;
  }

  private escaped(): string {
    const char = this.pattern[this.at++];
    if (char !== '\\') return char;
    if (this.at >= this.pattern.length) return '\\';
    return this.pattern[this.at++];
  }

  /**
   * `*`, or `**`, which crosses the separator. A `**` that is a whole part, followed by a separator, may also
   * stand for no part at all, as in picomatch: "**" + "/b" matches "b", and "a/**" + "/b" matches "a/b".
   */
  private star(): Node[] {
    const start = this.at;
    while (this.pattern[this.at] === '*') this.at += 1;
    const globstar = this.at - start > 1;
    const anything: Node = { kind: 'star', test: globstar || this.syntax.starCrossesSeparator ? anyButLineEnd : this.notSeparator };
    const sep = this.syntax.separator;
    if (!globstar || (start > 0 && this.pattern[start - 1] !== sep) || this.pattern[this.at] !== sep) return [anything];
    this.at += 1;
    return [{ kind: 'repeat', min: 0, many: false, options: [[anything, literal(sep)]] }];
  }

  /** `/**` ending the pattern (or a group's option): "a/**" matches "a" too. */
  private trailingGlobstar(stops: string): Node | undefined {
    const sep = this.syntax.separator;
    const end = this.pattern[this.at + 3];
    if (!this.pattern.startsWith(`${sep}**`, this.at) || (end !== undefined && !stops.includes(end))) return undefined;
    this.at += 3;
    return { kind: 'repeat', min: 0, many: false, options: [[literal(sep), { kind: 'star', test: anyButLineEnd }]] };
  }

  private readonly notSeparator: CharTest = (c) => c !== this.syntax.separator.charCodeAt(0);

  private extglob(kind: string): Node {
    const options = this.group(')');
    if (kind === '!') throw new Error('"!(…)" is not supported: list what may match instead');
    if (kind === '@') return { kind: 'alternatives', options };
    return { kind: 'repeat', min: kind === '+' ? 1 : 0, many: kind !== '?', options };
  }

  /** Alternatives separated by `|` up to `close`, which is consumed. */
  private group(close: string): Node[][] {
    const options: Node[][] = [];
    for (;;) {
      options.push(this.sequence(`|${close}`));
      const char = this.pattern[this.at++];
      if (char === close) return options;
      if (char === undefined) throw new Error(`missing closing "${close}"`);
    }
  }

  /** `{a,b}` and `{a..c}`; braces without a comma or range are literal text. */
  private brace(): Node[] {
    const start = this.at;
    this.at += 1;
    const range = /^\{([^{}\\])\.\.([^{}\\])\}/.exec(this.pattern.slice(start));
    if (range !== null) {
      this.at = start + range[0].length;
      const [low, high] = [range[1].charCodeAt(0), range[2].charCodeAt(0)].sort((a, b) => a - b);
      if (/\d/.test(range[1]) !== /\d/.test(range[2])) throw new Error(`invalid range "${range[0]}"`);
      return [{ kind: 'char', test: (c) => c >= low && c <= high }];
    }
    if (/^\{[^{}]*\.\.[^{}]*\}/.test(this.pattern.slice(start))) throw new Error('only ranges of one character ({a..f}, {0..9}) are supported');
    const options: Node[][] = [];
    for (;;) {
      options.push(this.sequence(',}'));
      const char = this.pattern[this.at++];
      if (char === '}') break;
      if (char === undefined) throw new Error('missing closing "}"');
    }
    if (options.length > 1) return [{ kind: 'alternatives', options }];
    this.at = start + 1;
    return [literal('{')];
  }

  private bracket(): Node {
    const start = this.at;
    this.at += 1;
    const negated = this.pattern[this.at] === '^';
    if (negated) this.at += 1;
    const tests: CharTest[] = [];
    let first = true;
    while (this.pattern[this.at] !== ']' || first) {
      if (this.at >= this.pattern.length) throw new Error(`missing closing "]" for "[" at ${start}`);
      first = false;
      const posix = /^\[:([a-z]+):\]/.exec(this.pattern.slice(this.at));
      if (posix !== null) {
        const regex = POSIX_CLASSES[posix[1]];
        if (regex === undefined) throw new Error(`unknown class "${posix[0]}"`);
        tests.push((c) => regex.test(String.fromCharCode(c)));
        this.at += posix[0].length;
        continue;
      }
      const low = this.escaped();
      if (this.pattern[this.at] === '-' && this.pattern[this.at + 1] !== ']' && this.at + 1 < this.pattern.length) {
        this.at += 1;
        const high = this.escaped();
        tests.push((c) => c >= low.charCodeAt(0) && c <= high.charCodeAt(0));
      } else {
        tests.push((c) => c === low.charCodeAt(0));
      }
    }
    this.at += 1;
    const inClass: CharTest = (c) => tests.some((test) => test(c));
    return { kind: 'char', test: negated ? (c) => this.notSeparator(c) && !inClass(c) : inClass };
  }
}

function literal(char: string): Node {
  const code = char.charCodeAt(0);
  return { kind: 'char', test: (c) => c === code };
}

/** The automaton for `nodes` followed by `next`, built back to front. */
function build(nodes: Node[], next: State): State {
  let state = next;
  for (let i = nodes.length - 1; i >= 0; i--) state = buildNode(nodes[i], state);
  return state;
}

function buildNode(node: Node, next: State): State {
  switch (node.kind) {
    case 'char':
      return { test: node.test, next };
    case 'star': {
      const loop: { split: State[] } = { split: [] };
      loop.split.push({ test: node.test, next: loop }, next);
      return loop;
    }
    case 'alternatives':
      return { split: node.options.map((option) => build(option, next)) };
    case 'repeat': {
      if (!node.many) return { split: [...node.options.map((option) => build(option, next)), next] };
      const loop: { split: State[] } = { split: [] };
      loop.split.push(...node.options.map((option) => build(option, loop)), next);
      return node.min === 1 ? { split: node.options.map((option) => build(option, loop)) } : loop;
    }
  }
}

/**
 * The set of automaton states reached after reading some characters, and where each next character leads: the
 * sets are built as characters first need them (a lazy subset construction), so a run is one lookup a character.
 */
interface Step {
  /** The reading states in the set; -1 stands for the match. */
  readers: number[];
  matched: boolean;
  ascii: (Step | undefined)[];
  other: Map<number, Step>;
}

// Enough for any pattern a rule holds; a pathological one only rebuilds its steps more often, still linear.
const MAX_STEPS = 200;
// Characters beyond ASCII each step remembers: a value of many distinct ones is computed, not remembered.
const MAX_OTHER = 64;

class Automaton {
  private readonly tests: CharTest[] = [];
  /** For each reading state: the reading states (and -1, the match) it leads to once its test passes. */
  private readonly follows: number[][] = [];
  private readonly starts: number[];
  private steps = new Map<string, Step>();
  private start: Step;

  constructor(start: State) {
    const readers: { test: CharTest; next: State }[] = [];
    const numbers = new Map<State, number>();
    const collect = (state: State) => {
      if (numbers.has(state)) return;
      numbers.set(state, 'test' in state ? readers.push(state) - 1 : -1);
      if ('test' in state) collect(state.next);
      if ('split' in state) state.split.forEach(collect);
    };
    collect(start);
    const reach = (from: State) => closure(from).map((state) => numbers.get(state)!);
    this.tests = readers.map((reader) => reader.test);
    this.follows = readers.map((reader) => reach(reader.next));
    this.starts = reach(start);
    this.start = this.step(this.starts);
  }

  matches(value: string): boolean {
    let step = this.start;
    for (let at = 0; at < value.length; at++) {
      const code = value.charCodeAt(at);
      step = (code < 128 ? step.ascii[code] : step.other.get(code)) ?? this.next(step, code);
      if (step.readers.length === 0 && !step.matched) return false;
    }
    return step.matched;
  }

  private next(from: Step, code: number): Step {
    const reached = new Set<number>();
    for (const reader of from.readers) if (this.tests[reader](code)) for (const target of this.follows[reader]) reached.add(target);
    if (this.steps.size >= MAX_STEPS) {
      this.steps = new Map();
      this.start = this.step(this.starts);
    }
    const to = this.step([...reached]);
    if (code < 128) from.ascii[code] = to;
    else if (from.other.size < MAX_OTHER) from.other.set(code, to);
    return to;
  }

  private step(states: number[]): Step {
    const readers = states.filter((state) => state !== -1).sort((a, b) => a - b);
    const key = readers.join(',') + (readers.length < states.length ? ',m' : '');
    let step = this.steps.get(key);
    if (step === undefined) {
      step = { readers, matched: readers.length < states.length, ascii: new Array(128), other: new Map() };
      this.steps.set(key, step);
    }
    return step;
  }
}

/** The reading states and the match reachable from `from` without reading a character, each once. */
function closure(from: State): State[] {
  const seen = new Set<State>();
  const result: State[] = [];
  const pending = [from];
  while (pending.length > 0) {
    const state = pending.pop()!;
    if (seen.has(state)) continue;
    seen.add(state);
    if ('split' in state) pending.push(...state.split);
    else result.push(state);
  }
  return result;
}
