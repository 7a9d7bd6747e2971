/** How much of a target's answer an attempt keeps: enough to debug a failure, small enough to keep for every attempt. */

const RESPONSE_LIMIT_BYTES = 1024;

/** The first KiB of `response` in UTF-8, cut at a character boundary. */
export function truncateResponse(response: string): string {
  if (Buffer.byteLength(response, 'utf8') <= RESPONSE_LIMIT_BYTES) return response;
  const bytes = Buffer.from(response, 'utf8');
  let end = RESPONSE_LIMIT_BYTES;
  // Back up over continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}
