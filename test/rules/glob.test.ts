import picomatch from 'picomatch';
import { describe, expect, it } from 'vitest';
import { compileGlob } from '../../src/rules/glob.ts';

describe('compileGlob', () => {
  // compileGlob turns values away on the pattern's literal start before its regex runs; that must never change
  // an answer. Picomatch's own regex, with the options glob.ts documents, is the reference.
  const reference = (pattern: string) => picomatch.makeRe(pattern, { bash: true, dot: true, nonegate: true, strictBrackets: true });
  const patterns = [
    'session-*', 'tenant-12-*', 'a*b', 'ab?(c)', 'ab*(c)', 'ab+(c)', 'ab@(c|d)', 'ab{c,d}*', 'a/**', 'a/*', '*-room',
    '*mid*', 'session-[0-9]?', 'vip\\*', 'x_y-*.mp4', '[ab]*', '{a,b}c', '!a*', 'A*', '?b*',
  ];
  const values = [
    '', 'a', 'ab', 'abc', 'abd', 'abcc', 'abx', 'a/', 'a/b', 'a/b/c', 'a/.b', 'session-', 'session-1', 'session-42',
    'session-a/b', 'session-./x', 'session-../x', 'session-\n', 'xsession-1', 'tenant-12-room', 'tenant-1-room',
    'tenant-12-', 'mid', '.mid', 'x-room', '-room', 'vip*', 'vip-room', 'x_y-1.mp4', 'x_y-1.mp3', 'bc', 'cc', '!abc',
    'Ab', 'A', 'bb', 'axb', 'ab.c',
  ];

  it('answers as picomatch does for every pattern and value', () => {
    for (const pattern of patterns) {
      const matches = compileGlob(pattern);
      const regex = reference(pattern);
      for (const value of values) expect(matches(value), `${pattern} against ${JSON.stringify(value)}`).toBe(regex.test(value));
    }
  });
});
