/** How long a batch's last jobs may all sit waiting for slots before they are released. */
export const TAIL_RELEASE_MS = 500;

/**
 * Watches one batch's jobs and releases those still waiting for their location's slot once the
 * rest of the batch is done: when some jobs have settled and every open job has been waiting
 * for a slot for `TAIL_RELEASE_MS`, `signal` aborts. Released jobs are handed back (their slots
 * stay with the container for its next batch), so one location's far slot does not hold the
 * whole container while other locations' jobs wait on the queue.
 *
 * @example
 * const tail = new TailRelease();
 * // per job: tail.started(); client.deleteCsv(..., { release: tail.signal, onSlotWait: tail.slotWait }); tail.settled();
 */
export class TailRelease {
  readonly #controller = new AbortController();
  /** Aborted once every started job has settled: removes the listener on `stopping`. */
  readonly #finished = new AbortController();
  #open = 0;
  #waiting = 0;
  #settled = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #afterMs: number;

  /** `stopping` releases every waiting job at once (the process is shutting down). */
  constructor(afterMs = TAIL_RELEASE_MS, stopping?: AbortSignal) {
    this.#afterMs = afterMs;
    if (stopping?.aborted) this.#controller.abort();
    stopping?.addEventListener("abort", () => this.#controller.abort(), {
      once: true,
      signal: this.#finished.signal,
    });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  started = (): void => {
    this.#open += 1;
    this.#check();
  };

  settled = (): void => {
    this.#open -= 1;
    this.#settled += 1;
    if (this.#open === 0) this.#finished.abort();
    this.#check();
  };

  slotWait = (waiting: boolean): void => {
    this.#waiting += waiting ? 1 : -1;
    this.#check();
  };

  /** Stops the timer (the batch is over). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const onlyWaiting = this.#settled > 0 && this.#open > 0 && this.#waiting === this.#open;
    if (!onlyWaiting || this.#controller.signal.aborted) {
      this.close();
      return;
    }
    this.#timer ??= setTimeout(() => this.#controller.abort(), this.#afterMs);
  }
}
