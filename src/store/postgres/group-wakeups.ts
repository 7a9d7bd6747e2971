/**
 * Wake-ups between replicas: a completion that finishes a delivery of an ordering group notifies FINISHED_CHANNEL
 * (in its own statement, see dialect.ts), and every replica LISTENs on a connection of its own, so the group's next
 * delivery is claimed at once by whichever replica has room, not at the next poll. A lost notification or a broken
 * connection costs latency only: the poll still finds every due delivery.
 */
import pg from 'pg';

/** The channel finished deliveries of ordering groups are announced on; the payload is the finishing worker. */
export const FINISHED_CHANNEL = 'switchboard_group_finished';

/** How long a broken LISTEN connection waits before connecting again. */
const RECONNECT_MS = 1_000;

/**
 * Listens on FINISHED_CHANNEL with `config` (a connection outside the pool, which LISTEN holds for good) and calls
 * `wake` for each notification not sent by `owner`, and after each (re)connection, since notifications sent while
 * disconnected are lost; `onError` hears of a broken connection, retried after RECONNECT_MS. Returns the function
 * that stops listening.
 */
export function listenForFinishedGroups(
  config: pg.ClientConfig,
  owner: string,
  wake: () => void,
  onError: (error: unknown) => void,
): () => Promise<void> {
  let stopped = false;
  let client: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const connect = async () => {
    const connection = new pg.Client(config);
    client = connection;
    connection.on('notification', (message) => {
      if (message.payload !== owner) wake();
    });
    connection.on('error', (error) => broken(connection, error));
    connection.on('end', () => broken(connection, undefined));
    try {
      await connection.connect();
      await connection.query(`LISTEN ${FINISHED_CHANNEL}`);
      if (!stopped) wake();
    } catch (error) {
      broken(connection, error);
    }
  };

  const broken = (connection: pg.Client, error: unknown) => {
    if (client !== connection || stopped) return;
    client = undefined;
    if (error !== undefined) onError(error);
    connection.removeAllListeners('end');
    void connection.end().catch(() => undefined);
    retry = setTimeout(() => void connect(), RECONNECT_MS);
  };

  void connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    const connection = client;
    client = undefined;
    await connection?.end().catch(() => undefined);
  };
}
