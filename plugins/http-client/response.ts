/** What a target answered: a bounded excerpt of the body, and the outcome class of the status. */
import { PermanentError, RetryableError } from '../../src/plugins/contract.ts';

/** Kept for the attempt record and error messages. */
const EXCERPT_BYTES = 1024;
/** Read (and discarded) past the excerpt so the connection can be reused; beyond this the rest is abandoned. */
const READ_LIMIT_BYTES = 64 * 1024;

const RETRYABLE_STATUSES = new Set([408, 425, 429]);

/**
 * The first KiB of the body as text (a character cut at the boundary is dropped). Reading is best effort: a body
 * that fails or is aborted midway leaves what arrived, because the status has already decided the outcome.
 */
export async function readExcerpt(response: Response): Promise<string> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const kept = new Uint8Array(EXCERPT_BYTES);
  let keptBytes = 0;
  let readBytes = 0;
  try {
    while (readBytes < READ_LIMIT_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      const take = Math.min(value.byteLength, EXCERPT_BYTES - keptBytes);
      kept.set(value.subarray(0, take), keptBytes);
      keptBytes += take;
      readBytes += value.byteLength;
    }
    if (readBytes >= READ_LIMIT_BYTES) await reader.cancel();
  } catch {
    // What arrived is what there is.
  } finally {
    reader.releaseLock();
  }
  return new TextDecoder().decode(kept.subarray(0, keptBytes), { stream: true });
}

/** The error a non-2xx answer stands for, or undefined for success. */
export function failureFor(origin: string, response: Response, excerpt: string): Error | undefined {
  const { status } = response;
  if (status >= 200 && status < 300) return undefined;
  const code = `E_HTTP_${status}`;
  const answer = `${origin} answered ${status}${describeBody(excerpt)}`;
  if (RETRYABLE_STATUSES.has(status) || status >= 500) {
    return new RetryableError(answer, { code, retryAfterMs: retryAfterMs(response.headers.get('retry-after')) });
  }
  if (status === 410) return new PermanentError(`${answer}; the target is gone, so it is disabled`, { code, disableTarget: true });
  if (status >= 300 && status < 400) {
    const location = response.headers.get('location');
    return new PermanentError(`${answer}${location ? `, redirecting to ${location}` : ''}; redirects are not followed`, { code });
  }
  return new PermanentError(answer, { code });
}

/** Milliseconds from a Retry-After header: delay-seconds or an HTTP-date. Undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null) return undefined;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function describeBody(excerpt: string): string {
  const text = excerpt.replace(/\s+/g, ' ').trim();
  if (text === '') return '';
  return `: ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
}
