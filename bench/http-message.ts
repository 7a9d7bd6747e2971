/** Where one HTTP/1.1 message ends in the bytes read so far, for the benchmarks' lean client and receiver. */

/** `head`: the start line and headers, without the blank line after them; `length`: the bytes the message took. */
export type HttpMessage = { head: string; body: string; length: number };

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /^content-length:[ \t]*(\d+)[ \t]*$/im;
const CHUNKED = /^transfer-encoding:[ \t]*chunked[ \t]*$/im;
const CONNECTION_CLOSE = /^connection:[ \t]*close[ \t]*$/im;
const KEEP_ALIVE_TIMEOUT = /^keep-alive:[^\r\n]*\btimeout=(\d+)/im;

/** The first message in `bytes`; undefined until all of it has arrived; an Error for what this does not read. */
export function readMessage(bytes: Buffer): HttpMessage | Error | undefined {
  const headEnd = bytes.indexOf(HEADER_END);
  if (headEnd === -1) return undefined;
  const head = bytes.toString('latin1', 0, headEnd);
  const bodyStart = headEnd + HEADER_END.length;
  const length = CONTENT_LENGTH.exec(head);
  if (length !== null) {
    const end = bodyStart + Number(length[1]);
    if (bytes.length < end) return undefined;
    return { head, body: bytes.toString('utf8', bodyStart, end), length: end };
  }
  if (CHUNKED.test(head)) return readChunked(bytes, head, bodyStart);
  return new Error(`a message with neither content-length nor chunked encoding: ${head.split('\r\n')[0]}`);
}

export function closesConnection(head: string): boolean {
  return CONNECTION_CLOSE.test(head);
}

/** How long, in ms, the peer keeps an idle connection open, from its `keep-alive: timeout=<seconds>` header. */
export function keepAliveTimeoutMs(head: string): number | undefined {
  const timeout = KEEP_ALIVE_TIMEOUT.exec(head);
  return timeout === null ? undefined : Number(timeout[1]) * 1000;
}

/** The body sent in chunks from `start` (trailers are not expected). */
function readChunked(bytes: Buffer, head: string, start: number): HttpMessage | Error | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
    if (lineEnd === -1) return undefined;
    const size = Number.parseInt(bytes.toString('latin1', at, lineEnd), 16);
    if (Number.isNaN(size)) return new Error('a malformed chunk');
    const dataEnd = lineEnd + 2 + size;
    if (bytes.length < dataEnd + 2) return undefined;
    if (size === 0) return { head, body: Buffer.concat(parts).toString('utf8'), length: dataEnd + 2 };
    parts.push(bytes.subarray(lineEnd + 2, dataEnd));
    at = dataEnd + 2;
  }
}
