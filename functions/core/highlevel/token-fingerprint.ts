import { createHash } from "node:crypto";

/** A short, stable, non-reversible name for a token: safe for keys and logs. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 12);
}
