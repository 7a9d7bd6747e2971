import { describe, expect, it } from 'vitest';
import { REDACTED, redactParams, TOO_DEEP, VIEW_MAX_DEPTH } from '../../src/server/admin/redact.ts';

describe('params shown by the admin API', () => {
  it('hides signing secrets, provider keys and every header value, keeping the rest', () => {
    expect(
      redactParams({
        url: 'https://partner.example.com/hook',
        headers: { Authorization: 'Bearer abc', 'X-Team': 'blue' },
        sign: { scheme: 'standard-webhooks', secret: ['whsec_one', 'whsec_two'] },
        provider: 'stripe',
        secretKey: 'sk_live_123',
        body: { room: 'session-42', count: 3 },
      }),
    ).toEqual({
      url: 'https://partner.example.com/hook',
      headers: { Authorization: REDACTED, 'X-Team': REDACTED },
      sign: { scheme: 'standard-webhooks', secret: [REDACTED, REDACTED] },
      provider: 'stripe',
      secretKey: REDACTED,
      body: { room: 'session-42', count: 3 },
    });
  });

  it("hides a URL's query values, fragment, user and password, keeping the rest of it", () => {
    expect(
      redactParams({
        url: 'https://bot:hunter2@partner.example.com/hook?token=abc&room=session-42&token=def#top',
        plain: 'https://partner.example.com/hook',
        note: 'see ?token=abc',
      }),
    ).toEqual({
      url: `https://partner.example.com/hook?token=${REDACTED}&room=${REDACTED}&token=${REDACTED}#${REDACTED}`,
      plain: 'https://partner.example.com/hook',
      note: 'see ?token=abc',
    });
  });

  it('shows params nested deeper than it walks as a marker, without overflowing the stack', () => {
    let deep: unknown = 'bottom';
    for (let level = 0; level < 20_000; level += 1) deep = [deep];
    const shown = redactParams({ body: deep });
    let level = 0;
    let cursor: unknown = (shown as { body: unknown }).body;
    while (Array.isArray(cursor)) {
      cursor = cursor[0];
      level += 1;
    }
    expect(cursor).toBe(TOO_DEEP);
    expect(level).toBe(VIEW_MAX_DEPTH - 1);
    expect(() => JSON.stringify(shown)).not.toThrow();
  });
});
