/** Exit codes of DESIGN.md: 0 success, 1 operational failure, 2 usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** The command was called wrongly: a flag is missing or malformed. Exits 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The command was right but the work failed (queue unreachable, jobs left over). Exits 1. */
export class OperationalError extends Error {
  override name = "OperationalError";
}

/** The user stopped the command (Ctrl-C) after it reported what was done. Exits 130. */
export class InterruptedError extends Error {
  override name = "InterruptedError";
}

/** Turns an SDK failure into one line: its name and message, never a stack. */
export function describeAwsError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
