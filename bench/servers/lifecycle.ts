/** The handshake between a server under test and the benchmark that spawned it (see ../server-process.ts). */

export interface ListeningMessage {
  listening: string;
}

/** Tells the parent the server is ready and where to send requests. */
export function reportListening(url: string): void {
  process.send!({ listening: url } satisfies ListeningMessage);
}

/** Closes the server on SIGTERM or when the parent goes away, then exits (so a `--cpu-prof` gets written). */
export function stopOnRequest(close: () => Promise<void>): void {
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
}
