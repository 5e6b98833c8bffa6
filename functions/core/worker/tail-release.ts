/** How long a batch's last jobs may all sit waiting for slots before they are released. */
export const TAIL_RELEASE_MS = 500;
/** The share of a batch's started jobs that may still be open for them to count as its tail. */
export const TAIL_SHARE = 0.1;

/**
 * Watches one batch's jobs and releases those still waiting for their location's slot once the
 * rest of the batch is done: when at most a tenth of its jobs (at least one) are still open,
 * all of them waiting for slots, for `TAIL_RELEASE_MS`, `signal` aborts. (A batch in the middle
 * of its work also has quiet spells, when the fleet books a location's slots in turns.) Released jobs are handed back (their slots
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
  #started = 0;
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
    this.#started += 1;
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
    const tail = this.#open <= Math.max(1, Math.floor(this.#started * TAIL_SHARE));
    const onlyWaiting = this.#settled > 0 && this.#open > 0 && this.#waiting === this.#open;
    if (!tail || !onlyWaiting || this.#controller.signal.aborted) {
      this.close();
      return;
    }
    this.#timer ??= setTimeout(() => this.#controller.abort(), this.#afterMs);
  }
}
