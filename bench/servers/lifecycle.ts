/**
 * The child's side of the handshake with the benchmark that spawned it (../setup.ts). Its messages stay as
 * they are: `bench:compare` and `--baseline` start the servers of other, older checkouts.
 */

/**
 * Tells the parent where to send requests (`{ listening: url }`), answers each question `{ type }` with
 * `answers[type]()`, and on SIGTERM or when the parent goes away closes the server and exits (so a `--cpu-prof` gets
 * written).
 */
export function serveBenchmark(url: string, close: () => Promise<void>, answers: Record<string, () => unknown> = {}): void {
  const stop = () => {
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  process.on('message', ({ type }: { type: string }) => process.send!(answers[type]()));
  process.send!({ listening: url });
}
