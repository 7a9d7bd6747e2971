/** The bytes the http plugin sends, and their Content-Type. */
import { PermanentError } from 'livekit-switchboard/plugin';

export type ContentType = 'json' | 'form';

export interface EncodedBody {
  text: string;
  contentType: string;
}

/**
 * `json` sends any JSON value. `form` sends a flat object as application/x-www-form-urlencoded: strings, numbers
 * and booleans as text, null as an empty value, and a nested object or list as its JSON text, so no value is lost.
 */
export function encodeBody(body: unknown, contentType: ContentType): EncodedBody {
  if (contentType === 'json') return { text: JSON.stringify(body), contentType: 'application/json' };
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new PermanentError(`contentType form needs an object body (field: value), got ${describe(body)}`, {
      code: 'E_HTTP_INVALID_BODY',
    });
  }
  const fields = Object.entries(body).map(([name, value]): [string, string] => [name, formValue(value)]);
  return { text: new URLSearchParams(fields).toString(), contentType: 'application/x-www-form-urlencoded' };
}

function formValue(value: unknown): string {
  if (value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  return Array.isArray(value) ? 'a list' : `a ${typeof value}`;
}
