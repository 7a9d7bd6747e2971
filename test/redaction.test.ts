import { describe, expect, it } from 'vitest';
import { REDACTED, redactUrls, targetName } from '../src/redaction.ts';
import { redactError, redactParams } from '../src/server/admin/redact.ts';

describe('target names', () => {
  it('cut a URL to its scheme, host and port', () => {
    expect(targetName('https://partner.example.com:8443/hook?token=abc#frag')).toBe('https://partner.example.com:8443');
    expect(targetName('HTTPS://Partner.Example.com/x')).toBe('https://partner.example.com');
    expect(targetName('https://partner.example.com:443/x')).toBe('https://partner.example.com');
  });

  it('drop the user info of a URL', () => {
    expect(targetName('https://user:pa55@partner.example.com/x')).toBe('https://partner.example.com');
  });

  it('cut a URL of another scheme, or one that does not parse, the same way', () => {
    expect(targetName('redis://cache.internal:6379/0?password=abc')).toBe('redis://cache.internal:6379');
    expect(targetName('https://{{ host }}.example.com/x?token=abc')).toBe('https://{{ host }}.example.com');
  });

  it('keep a name that is not a URL', () => {
    expect(targetName('stripe')).toBe('stripe');
    expect(targetName('status')).toBe('status');
  });
});

describe('URLs in text', () => {
  it('hide each query value, any fragment and the user info, keeping names and paths', () => {
    expect(redactUrls('refused by https://u:p@h.example.com/a/b?token=abc&room=x&flag#sig then stop')).toBe(
      `refused by https://h.example.com/a/b?token=${REDACTED}&room=${REDACTED}&${REDACTED}#${REDACTED} then stop`,
    );
  });

  it('leave text without URLs, and URLs without a query, as they are', () => {
    expect(redactUrls('no url here ?token=abc')).toBe('no url here ?token=abc');
    expect(redactUrls('"https://h.example.com/path"')).toBe('"https://h.example.com/path"');
  });

  it('are hidden in params wherever they appear', () => {
    expect(redactParams({ url: 'https://h.example.com/hook?token=abc', body: ['see https://x.example.com/?k=v'] })).toEqual({
      url: `https://h.example.com/hook?token=${REDACTED}`,
      body: [`see https://x.example.com/?k=${REDACTED}`],
    });
  });
});

describe('errors shown by the admin API', () => {
  it('hide the query values of a URL their message quotes, as errors recorded before redaction may', () => {
    expect(redactError({ code: 'E_REFUSED', message: 'refused by https://h.example.com/x?token=abc' })).toEqual({
      code: 'E_REFUSED',
      message: `refused by https://h.example.com/x?token=${REDACTED}`,
    });
    expect(redactError(null)).toBeNull();
  });
});
