/**
 * An AWS endpoint that accepts connections and never answers must not hold an invocation: each
 * try gives up after these, and every call is also aborted at the invocation's deadline.
 */
export const AWS_REQUEST_TIMEOUTS = { connectionTimeout: 1_000, requestTimeout: 3_000 } as const;
