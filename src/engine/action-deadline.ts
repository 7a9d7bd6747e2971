/**
 * The deadline every plugin call runs under: it rejects with `E_PLUGIN_TIMEOUT` when the call outlives its time, or
 * when the process stops it. The call's AbortSignal is made only if the plugin asks for it (`ctx.signal`): most
 * inline actions never do, and an AbortController with its abort event costs more than the status update it guards.
 */

/** Why an action's signal aborts once the action is over: whatever it started and left running should stop. */
const ACTION_FINISHED = Object.freeze(new Error('the action has finished'));

/** An action's cancellation: aborted when it times out, is stopped, or has finished. */
export class Cancellation {
  #controller: AbortController | undefined;
  #reason: unknown = undefined;
  #aborted = false;

  /** The AbortSignal handed to plugins, made on first use and already aborted if the action is over. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  /** The first reason wins. */
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** Runs `work`; rejects with an `E_PLUGIN_TIMEOUT` error when it outlives `timeoutMs` or `stop` fires. */
export function withDeadline<T>(work: (cancel: Cancellation) => Promise<T> | T, timeoutMs: number, stop?: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = new Cancellation();
    const end = () => {
      clearTimeout(timer);
      stop?.removeEventListener('abort', onStop);
      cancel.abort(ACTION_FINISHED);
    };
    const expire = (timeout: ActionTimeout) => {
      if (cancel.aborted) return;
      cancel.abort(timeout);
      end();
      reject(timeout);
    };
    const timer = setTimeout(() => expire(new ActionTimeout(timeoutMs)), timeoutMs);
    const onStop = () => expire(new ActionTimeout(timeoutMs, 'the process is shutting down'));
    stop?.addEventListener('abort', onStop, { once: true });

    let running: Promise<T> | T;
    try {
      running = work(cancel);
    } catch (error) {
      running = Promise.reject(error);
    }
    Promise.resolve(running).then(
      (value) => {
        if (cancel.aborted) return;
        end();
        resolve(value);
      },
      (error: unknown) => {
        if (cancel.aborted) return;
        end();
        reject(error);
      },
    );
  });
}

class ActionTimeout extends Error {
  readonly code = 'E_PLUGIN_TIMEOUT';
  readonly retryable = true;
  constructor(timeoutMs: number, why = `the action did not finish within ${timeoutMs} ms`) {
    super(why);
  }
}
