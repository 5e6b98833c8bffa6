import { UsageError } from "./errors.ts";

/** A flag that takes a count: a whole number ≥ 1, or a usage error naming the flag. */
export function wholeNumber(raw: string, flag: string): number {
  const value = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(value) || value < 1) {
    throw new UsageError(`${flag} must be a whole number ≥ 1, got "${raw}"`);
  }
  return value;
}
