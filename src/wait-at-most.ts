/**
 * Waits for `work` that cannot be cancelled for at most `ms`: its outcome, or what `onTimeout` returns (or throws)
 * once the time has passed. The work itself goes on; the timer does not keep the process alive.
 */
export async function waitAtMost<T>(work: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(onTimeout());
      } catch (error) {
        reject(error);
      }
    }, ms);
    timer.unref();
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
