/** Raised when an await had to be abandoned because the invocation's deadline came. */
export class DeadlineExceeded extends Error {
  override name = "DeadlineExceeded";
}

/**
 * Runs `work` so that the caller is free again by `deadline` (epoch ms) whatever `work` does:
 * `work` gets a signal that aborts at the deadline (the AWS SDK and fetch honour it), and the
 * returned promise rejects with `DeadlineExceeded` then even if `work` ignores the signal.
 *
 * @example
 * await beforeDeadline(deadline, "sending the dead letter", (abortSignal) =>
 *   sqs.send(new SendMessageCommand(input), { abortSignal }));
 */
export async function beforeDeadline<T>(
  deadline: number,
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const timeLeft = deadline - Date.now();
  const exceeded = () => new DeadlineExceeded(`${what} did not finish before the deadline`);
  if (timeLeft <= 0) throw exceeded();
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = exceeded();
      controller.abort(error);
      reject(error);
    }, timeLeft);
  });
  try {
    return await Promise.race([work(controller.signal), expiry]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves after `ms`, or at once when that would pass `deadline`; never sleeps past it. */
export function sleepUntilAtMost(ms: number, deadline: number): Promise<void> {
  const wait = Math.max(0, Math.min(ms, deadline - Date.now()));
  return new Promise((resolve) => setTimeout(resolve, wait));
}

/** Settles when `promise` does or after `ms`, whichever is first; leaves no timer behind. */
export async function raceTimeout(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/**
 * Waits `ms`, or less when `release` aborts first: resolves `true` when released, else `false`.
 * Leaves no timer or listener behind.
 */
export function sleepUnlessReleased(ms: number, release?: AbortSignal): Promise<boolean> {
  if (release?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onRelease = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      release?.removeEventListener("abort", onRelease);
      resolve(false);
    }, ms);
    release?.addEventListener("abort", onRelease, { once: true });
  });
}
