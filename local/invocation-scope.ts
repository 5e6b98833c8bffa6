import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Lambda kills an invocation at its timeout: nothing it would have done afterwards happens. The
 * local poller runs every invocation in this one process and cannot kill it, so each runs in a
 * scope that the poller ends at the timeout, and the clients the handler uses (SQS, S3 and
 * HighLevel's fetch) refuse any request made from an ended scope. Without this an overrun invocation goes on
 * beside its redelivery and both dead-letter the same job, which AWS would never do.
 */
const scope = new AsyncLocalStorage<AbortSignal>();

export class InvocationStoppedError extends Error {
  override name = "InvocationStoppedError";
  constructor() {
    super("the invocation was stopped at its timeout: this request was not sent");
  }
}

/** Runs `work` (an invocation) in a scope that ends when `stopped` aborts. */
export function runInvocation<T>(stopped: AbortSignal, work: () => Promise<T>): Promise<T> {
  return scope.run(stopped, work);
}

/** True when called from an invocation the poller has stopped at its timeout. */
export function invocationStopped(): boolean {
  return scope.getStore()?.aborted === true;
}

/**
 * An AWS SDK middleware (step "initialize") that refuses requests from a stopped invocation;
 * the poller's own receives and deletes run outside any invocation and pass.
 */
export const refuseStoppedInvocations =
  <Args, Result>(next: (args: Args) => Promise<Result>) =>
  async (args: Args): Promise<Result> => {
    if (invocationStopped()) throw new InvocationStoppedError();
    return next(args);
  };

/** The global fetch, refusing calls from a stopped invocation (HighLevel's calls). */
export const fetchUnlessStopped: typeof fetch = (input, init) =>
  invocationStopped() ? Promise.reject(new InvocationStoppedError()) : fetch(input, init);

export const REFUSE_STOPPED_INVOCATIONS = {
  step: "initialize",
  name: "refuseStoppedInvocations",
} as const;
