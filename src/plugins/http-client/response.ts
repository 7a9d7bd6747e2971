/** What a target answered: a bounded excerpt of the body, and the outcome class of the status. */
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { PermanentError, RetryableError } from '../contract.ts';

/** Kept for the attempt record and error messages. */
const EXCERPT_BYTES = 1024;
/** Read (and discarded) past the excerpt so the connection can be reused; beyond this the rest is abandoned. */
const READ_LIMIT_BYTES = 64 * 1024;

const RETRYABLE_STATUSES = new Set([408, 425, 429]);

export interface Answer {
  status: number;
  /** Names in lower case. */
  headers: IncomingHttpHeaders;
  /** The start of the body (see readExcerpt); the rest is read and discarded or abandoned. */
  excerpt: string;
}

/**
 * The first KiB of the body as text (a character cut at the boundary is dropped). Reading is best effort: a body
 * that fails or is aborted midway leaves what arrived, because the status has already decided the outcome.
 */
export function readExcerpt(response: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    const kept = new Uint8Array(EXCERPT_BYTES);
    let keptBytes = 0;
    let readBytes = 0;
    const done = () => {
      response.removeListener('data', onData);
      resolve(new TextDecoder().decode(kept.subarray(0, keptBytes), { stream: true }));
    };
    const onData = (chunk: Buffer) => {
      const take = Math.min(chunk.byteLength, EXCERPT_BYTES - keptBytes);
      kept.set(chunk.subarray(0, take), keptBytes);
      keptBytes += take;
      readBytes += chunk.byteLength;
      if (readBytes >= READ_LIMIT_BYTES) {
        // Not worth reading on: the connection goes with the rest of the body.
        response.destroy();
        done();
      }
    };
    response.on('data', onData);
    response.once('end', done);
    response.once('close', done);
    response.once('error', done);
  });
}

/** The error a non-2xx answer stands for, or undefined for success. */
export function failureFor(origin: string, { status, headers, excerpt }: Answer): Error | undefined {
  if (status >= 200 && status < 300) return undefined;
  const code = `E_HTTP_${status}`;
  const answer = `${origin} answered ${status}${describeBody(excerpt)}`;
  if (RETRYABLE_STATUSES.has(status) || status >= 500) {
    return new RetryableError(answer, { code, retryAfterMs: retryAfterMs(headers['retry-after'] ?? null) });
  }
  if (status === 410) return new PermanentError(`${answer}; the target is gone, so it is disabled`, { code, disableTarget: true });
  if (status >= 300 && status < 400) {
    const { location } = headers;
    return new PermanentError(`${answer}${location ? `, redirecting to ${location}` : ''}; redirects are not followed`, { code });
  }
  return new PermanentError(answer, { code });
}

/** Milliseconds from a Retry-After header: delay-seconds or an HTTP-date. Undefined when absent or unreadable. */
function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
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
