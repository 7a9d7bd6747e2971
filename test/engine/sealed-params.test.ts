import { describe, expect, it } from 'vitest';
import httpPlugin from '../../plugins/http.ts';
import { sealParams, unsealedParams } from '../../src/engine/sealed-params.ts';
import { registryFromDefinitions } from '../../src/plugins/registry.ts';
import { compileRuleSources } from '../../src/rules/compile.ts';
import type { RuleSet } from '../../src/rules/types.ts';
import type { Delivery } from '../../src/store/store.ts';

const plugins = registryFromDefinitions([httpPlugin]);
const env = { TOKEN: 'tok-$1-secret', OTHER: 'other-secret' };

function action(options: { id?: string; host?: string; token?: string } = {}): string {
  return `      - plugin: http
${options.id === undefined ? '' : `        id: ${options.id}\n`}        with:
          url: "https://${options.host ?? 'partner.example.com'}/hook?t=\${env:${options.token ?? 'TOKEN'}}"
          headers: { Authorization: "Bearer \${env:${options.token ?? 'TOKEN'}}" }
`;
}

function rules(actions: string[], ruleId = 'partner'): RuleSet {
  const text = `rules:\n  - id: ${ruleId}\n    on: room_started\n    actions:\n${actions.join('')}`;
  return compileRuleSources({ sources: [{ file: 'partner.yaml', text }], plugins: plugins.specs(), env });
}

/** What ingest stores for the rule's first action, as a delivery. */
function queued(ruleSet: RuleSet, params: Record<string, unknown>, index = 0): Delivery {
  const sealed = sealParams(ruleSet.rules[0].actions[index], plugins.get('http')!, params);
  return { id: 7, ruleId: ruleSet.rules[0].id, actionIndex: index, ...sealed } as Partial<Delivery> as Delivery;
}

const rendered = {
  url: `https://partner.example.com/hook?t=${env.TOKEN}`,
  headers: { Authorization: `Bearer ${env.TOKEN}` },
  // Event data that reads like a placeholder stays text; a `$` stays a `$`.
  body: { room: '${env:TOKEN} costs $$5', echoed: env.TOKEN },
};

describe('sealed params', () => {
  it('stores no secret and sends the same params again', () => {
    const ruleSet = rules([action()]);
    const delivery = queued(ruleSet, rendered);
    expect(JSON.stringify(delivery.params)).not.toContain(env.TOKEN);
    expect(delivery.actionKey).toMatch(/^fp:/);
    expect(unsealedParams(delivery, ruleSet, plugins)).toEqual(rendered);
  });

  it('sends the secret in force when it was rotated', () => {
    const delivery = queued(rules([action()]), rendered);
    const rotated = compileRuleSources({
      sources: [{ file: 'partner.yaml', text: `rules:\n  - id: partner\n    on: room_started\n    actions:\n${action()}` }],
      plugins: plugins.specs(),
      env: { ...env, TOKEN: 'tok-rotated' },
    });
    expect(unsealedParams(delivery, rotated, plugins)).toMatchObject({ headers: { Authorization: 'Bearer tok-rotated' } });
  });

  it('finds an action without an id by its plugin, target and secrets after the rule is reordered', () => {
    const delivery = queued(rules([action()]), rendered);
    const reordered = rules([action({ host: 'first.example.com', token: 'OTHER' }), action()]);
    expect(unsealedParams(delivery, reordered, plugins)).toEqual(rendered);
  });

  it('finds an action by its id after it is moved', () => {
    const delivery = queued(rules([action({ id: 'notify' })]), rendered);
    expect(delivery.actionKey).toMatch(/^id:notify@/);
    expect(unsealedParams(delivery, rules([action({ id: 'first', host: 'first.example.com' }), action({ id: 'notify' })]), plugins)).toEqual(rendered);
  });

  it('sends params stored without a key as they are: deliveries queued before secrets were sealed', () => {
    const old = { id: 1, ruleId: 'partner', actionIndex: 0, params: rendered } as Partial<Delivery> as Delivery;
    expect(unsealedParams(old, rules([action()]), plugins)).toBe(rendered);
  });

  it.each([
    ['the rule is gone', () => rules([action()], 'renamed'), /rule "partner" is no longer loaded/],
    ['the action now calls another host', () => rules([action({ host: 'elsewhere.example.com' })]), /no action of rule "partner" is the same plugin/],
    ['two actions match', () => rules([action(), action()]), /more than one action of rule "partner"/],
  ])('fails with E_RULE_GONE when %s', (_case, current, reason) => {
    const delivery = queued(rules([action()]), rendered);
    expect(() => unsealedParams(delivery, current(), plugins)).toThrow(expect.objectContaining({ code: 'E_RULE_GONE', retryable: false, message: expect.stringMatching(reason) }));
  });

  it('fails with E_RULE_GONE when the action with its id now calls another target', () => {
    const delivery = queued(rules([action({ id: 'notify' })]), rendered);
    expect(() => unsealedParams(delivery, rules([action({ id: 'notify', host: 'elsewhere.example.com' })]), plugins)).toThrow(
      expect.objectContaining({ code: 'E_RULE_GONE', message: expect.stringMatching(/"notify" of rule "partner" now calls another plugin or target/) }),
    );
  });

  it('refuses two actions of a rule with the same id at load', () => {
    expect(() => rules([action({ id: 'notify' }), action({ id: 'notify', host: 'b.example.com' })])).toThrow(/duplicate action id "notify"/);
  });
});
