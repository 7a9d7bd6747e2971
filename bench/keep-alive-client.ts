/**
 * The fixed-rate load generator's HTTP/1.1 client. Each request is encoded to bytes before the run, so sending it is
 * one socket write, and each answer is read only as far as its status and body (http-message.ts). node:http's
 * client cost the generator about 220 µs of CPU per request, which on a two-core machine it took from the server
 * under test (0.21–0.23 cores at 1,000 requests/s, against 0.10–0.15 with this one). Like node:http's keep-alive agent, it sends one request at a time on each
 * connection and opens another when all are busy, and it does not reuse a connection the server is about to close
 * for being idle (its `keep-alive: timeout=` hint).
 */
import { connect, type Socket } from 'node:net';
import { closesConnection, keepAliveTimeoutMs, readMessage } from './http-message.ts';

export type AnswerHandler = (error: Error | null, status: number, body: string) => void;

const EMPTY = Buffer.alloc(0);
/**
 * A connection idle for the server's keep-alive timeout less this is not reused: the server may be closing it as the
 * request goes out, which would fail the request (node:http's agent keeps the same margin).
 */
const KEEP_ALIVE_MARGIN_MS = 1000;

/** `url`'s request line and headers, then `body`, as one buffer. */
export function encodePost(url: URL, headers: Record<string, string>, body: string): Buffer {
  const content = Buffer.from(body, 'utf8');
  const lines = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, `content-length: ${content.length}`];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), content]);
}

export class KeepAliveClient {
  readonly #host: string;
  readonly #port: number;
  readonly #idle: Connection[] = [];
  readonly #open = new Set<Connection>();

  constructor(url: URL) {
    this.#host = url.hostname;
    this.#port = Number(url.port || 80);
  }

  /** Sends `request` (from encodePost) on an idle connection, or a new one; `onAnswer` is called exactly once. */
  send(request: Buffer, onAnswer: AnswerHandler): void {
    let connection = this.#idle.pop();
    while (connection?.expired(performance.now())) {
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
    const connection = new Connection(
      connect({ host: this.#host, port: this.#port, noDelay: true }),
      () => this.#idle.push(connection),
      () => {
        this.#open.delete(connection);
        const at = this.#idle.indexOf(connection);
        if (at !== -1) this.#idle.splice(at, 1);
      },
    );
    this.#open.add(connection);
    return connection;
  }
}

/** One keep-alive connection carrying one request at a time. */
class Connection {
  readonly #socket: Socket;
  readonly #onIdle: () => void;
  readonly #onGone: () => void;
  #waiting: AnswerHandler | null = null;
  #received: Buffer = EMPTY;
  #gone = false;
  /** When the server may close this connection if no request comes first. */
  #idleUntil = Infinity;

  constructor(socket: Socket, onIdle: () => void, onGone: () => void) {
    this.#socket = socket;
    this.#onIdle = onIdle;
    this.#onGone = onGone;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#end(error));
    socket.on('close', () => this.#end(new Error('the server closed the connection before it answered')));
  }

  send(request: Buffer, onAnswer: AnswerHandler): void {
    this.#waiting = onAnswer;
    this.#socket.write(request);
  }

  destroy(): void {
    this.#socket.destroy();
  }

  expired(now: number): boolean {
    return now >= this.#idleUntil;
  }

  #receive(chunk: Buffer): void {
    this.#received = this.#received.length === 0 ? chunk : Buffer.concat([this.#received, chunk]);
    const answer = readMessage(this.#received);
    if (answer === undefined) return;
    if (answer instanceof Error) {
      this.#fail(answer);
      return;
    }
    if (answer.length < this.#received.length) {
      this.#fail(new Error('the server sent more than one answer to one request'));
      return;
    }
    this.#received = EMPTY;
    const answered = this.#waiting;
    this.#waiting = null;
    if (closesConnection(answer.head)) {
      this.#socket.end();
    } else {
      const timeout = keepAliveTimeoutMs(answer.head);
      this.#idleUntil = timeout === undefined ? Infinity : performance.now() + timeout - KEEP_ALIVE_MARGIN_MS;
      this.#onIdle();
    }
    answered?.(null, Number(answer.head.slice(9, 12)), answer.body);
  }

  #fail(error: Error): void {
    this.#end(error);
    this.#socket.destroy();
  }

  #end(error: Error): void {
    if (!this.#gone) {
      this.#gone = true;
      this.#onGone();
    }
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.(error, 0, '');
  }
}
