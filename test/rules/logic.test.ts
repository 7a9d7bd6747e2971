import { describe, expect, it } from 'vitest';
import { compileLogic, LOGIC_OPERATORS } from '../../src/rules/compile/logic.ts';
import { compile, roomStarted, ruleWith } from './helpers.ts';

describe('when (json-logic)', () => {
  it('matches only when the condition is truthy', () => {
    const ruleSet = compile(ruleWith('    when: { "==": [{ var: room.metadataJson.plan }, pro] }\n'));
    expect(ruleSet.match(roomStarted({ metadataJson: { plan: 'pro' } }))).toHaveLength(1);
    expect(ruleSet.match(roomStarted({ metadataJson: { plan: 'free' } }))).toHaveLength(0);
  });

  it('is checked after the filter, and both must hold', () => {
    const ruleSet = compile(ruleWith('    filter: { room.name: "session-*" }\n    when: { ">": [{ var: room.numParticipants }, 1] }\n'));
    expect(ruleSet.match(roomStarted({ numParticipants: 2 }))).toHaveLength(1);
    expect(ruleSet.match(roomStarted({ name: 'lobby', numParticipants: 2 }))).toHaveLength(0);
    expect(ruleSet.match(roomStarted({ numParticipants: 1 }))).toHaveLength(0);
  });

  it('treats an empty list as false, as json-logic does', () => {
    const ruleSet = compile(ruleWith('    when: { missing: [room.name] }\n'));
    expect(ruleSet.match(roomStarted())).toHaveLength(0);
  });

  it('does not hold when the expression throws on missing data', () => {
    const ruleSet = compile(ruleWith('    when: { in: [vip, { var: participant.metadataJson.tags }] }\n'));
    expect(ruleSet.match(roomStarted())).toEqual([]);
  });

  it('knows every standard json-logic-js operator', () => {
    expect([...LOGIC_OPERATORS].sort()).toEqual(
      ['var', 'missing', 'missing_some', 'if', '==', '===', '!=', '!==', '!', '!!', 'or', 'and', '>', '>=', '<', '<=',
        'max', 'min', '+', '-', '*', '/', '%', 'map', 'reduce', 'filter', 'all', 'none', 'some', 'merge', 'in', 'cat',
        'substr', 'log'].sort(),
    );
    const evaluate = compileLogic({ reduce: [{ map: [[1, 2, 3], { '*': [{ var: '' }, 2] }] }, { '+': [{ var: 'current' }, { var: 'accumulator' }] }, 0] });
    expect(evaluate({ event: 'x' })).toBe(12);
  });

  it('rejects values that are not plain data', () => {
    expect(() => compileLogic({ '==': [new Date(0), 1] })).toThrow('json-logic must be made of objects, lists and scalars, not Date');
    expect(() => compileLogic({ '==': [() => 1, 1] })).toThrow('not a function');
  });
});
