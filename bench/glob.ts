/**
 * Glob matching against hostile values: the time to match 100 KB of input for patterns that make a backtracking
 * matcher take minutes. `npm run bench:glob`; the target is under 10 ms each.
 */
import { compileGlob } from '../src/rules/compile/glob.ts';

const CASES: [string, string][] = [
  ['*-*-*-prod', '-'],
  ['*a*a*a*a*b', 'a'],
  ['+(a|aa)b', 'a'],
  ['session-*', 'session-x'],
];

for (const [pattern, unit] of CASES) {
  const value = unit.repeat(Math.ceil(100_000 / unit.length)).slice(0, 100_000);
  const matches = compileGlob(pattern);
  matches(value); // warm up
  const runs = 20;
  const started = performance.now();
  for (let i = 0; i < runs; i++) matches(value);
  console.log(`${pattern.padEnd(12)} 100 KB: ${((performance.now() - started) / runs).toFixed(2)} ms`);
}
