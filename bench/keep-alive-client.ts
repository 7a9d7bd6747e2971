/**
 * The load generator's HTTP/1.1 client, one request at a time per keep-alive connection: node:http's client cost the
 * generator 0.21–0.23 cores at 1,000 requests/s against 0.10–0.15, taken on two cores from the server under test.
 */
import { connect } from 'node:net';
import { closesConnection, keepAliveTimeoutMs, readMessage } from './http-message.ts';

export type AnswerHandler = (error: Error | null, status: number, body: string) => void;

const EMPTY: Buffer = Buffer.alloc(0);
/** An idle connection is not reused within this of the server's `keep-alive: timeout=`: it may be closing it. */
const KEEP_ALIVE_MARGIN_MS = 1000;

/** `url`'s request line and headers, then `body`, as one buffer. */
export function encodePost(url: URL, headers: Record<string, string>, body: string): Buffer {
  const content = Buffer.from(body, 'utf8');
  const lines = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, `content-length: ${content.length}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), content]);
}

export class KeepAliveClient {
  readonly #url: URL;
  readonly #idle: Connection[] = [];
  readonly #open = new Set<Connection>();

  constructor(url: URL) {
    this.#url = url;
  }

  /** Sends `request` (from encodePost) on an idle connection, or a new one; `onAnswer` is called exactly once. */
  send(request: Buffer, onAnswer: AnswerHandler): void {
    let connection = this.#idle.pop();
    while (connection?.expired()) {
      connection.destroy();
      connection = this.#idle.pop();
    }
    (connection ?? this.#connect()).send(request, onAnswer);
  }

  destroy(): void {
    for (const connection of this.#open) connection.destroy();
    this.#open.clear();
    this.#idle.length = 0;
  }

  #connect(): Connection {
    const connection = openConnection(this.#url, () => this.#idle.push(connection), () => {
      this.#open.delete(connection);
      const at = this.#idle.indexOf(connection);
      if (at !== -1) this.#idle.splice(at, 1);
    });
    this.#open.add(connection);
    return connection;
  }
}

type Connection = ReturnType<typeof openConnection>;

/** One keep-alive connection carrying one request at a time. */
function openConnection(url: URL, onIdle: () => void, onGone: () => void) {
  const socket = connect({ host: url.hostname, port: Number(url.port || 80), noDelay: true });
  let waiting: AnswerHandler | null = null;
  let received = EMPTY;
  let idleUntil = Infinity;
  const takeWaiting = () => {
    const onAnswer = waiting;
    waiting = null;
    return onAnswer;
  };
  const fail = (error: Error) => {
    takeWaiting()?.(error, 0, '');
    socket.destroy();
  };
  socket.on('data', (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    const answer = readMessage(received);
    if (answer === undefined) return;
    if (answer instanceof Error) return fail(answer);
    if (answer.length < received.length) return fail(new Error('the server sent more than one answer to one request'));
    received = EMPTY;
    const onAnswer = takeWaiting();
    if (closesConnection(answer.head)) socket.end();
    else {
      const timeout = keepAliveTimeoutMs(answer.head);
      idleUntil = timeout === undefined ? Infinity : performance.now() + timeout - KEEP_ALIVE_MARGIN_MS;
      onIdle();
    }
    onAnswer?.(null, Number(answer.head.slice(9, 12)), answer.body);
  });
  // Both run after an error (it is followed by 'close'): `onGone` must bear being called twice.
  const end = (error: Error) => {
    onGone();
    fail(error);
  };
  socket.on('error', end);
  socket.on('close', () => end(new Error('the server closed the connection before it answered')));
  return {
    send(request: Buffer, onAnswer: AnswerHandler) {
      waiting = onAnswer;
      socket.write(request);
    },
    destroy: () => socket.destroy(),
    /** Whether the server may be closing it for being idle. */
    expired: () => performance.now() >= idleUntil,
  };
}
