/** How long an expectation holds: a batch's calls are asked for well within it. */
const EXPECTATION_MS = 30_000;

/**
 * The calls a container expects to make per location and has not booked yet (a batch's jobs,
 * less the slots it already holds): the next booking for the location books them at once.
 *
 * @example
 * const expected = new ExpectedCalls();
 * expected.add("loc1", 20, 3); // a batch of 20, three slots already held
 * expected.pending("loc1:ab12cd34ef56"); // 17
 */
export class ExpectedCalls {
  readonly #byLocation = new Map<string, { calls: number; until: number }>();

  /** `calls` more are coming for `locationId`; the `held` slots this container holds serve the first. */
  add(locationId: string, calls: number, held: number, now = Date.now()): void {
    const current = this.#byLocation.get(locationId);
    const open = current && current.until > now ? current.calls : 0;
    const uncovered = Math.max(0, open + calls - held);
    if (uncovered === 0) this.#byLocation.delete(locationId);
    else this.#byLocation.set(locationId, { calls: uncovered, until: now + EXPECTATION_MS });
  }

  /** The calls still expected for the location of budget key `key`, if any. */
  pending(key: string, now = Date.now()): number | undefined {
    const expected = this.#byLocation.get(locationOf(key));
    return expected && expected.until > now ? expected.calls : undefined;
  }

  /** `slots` of the calls expected for the location of `key` are booked (or will not be made). */
  booked(key: string, slots: number): void {
    const location = locationOf(key);
    const expected = this.#byLocation.get(location);
    if (!expected) return;
    expected.calls -= slots;
    if (expected.calls <= 0) this.#byLocation.delete(location);
  }
}

/** The location a budget key (`<locationId>:<fingerprint>`) belongs to. */
export function locationOf(key: string): string {
  const colon = key.lastIndexOf(":");
  return colon === -1 ? key : key.slice(0, colon);
}
