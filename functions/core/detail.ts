/** The most of any text from outside (HighLevel's messages, errors) that is logged or stored. */
export const MAX_DETAIL_BYTES = 1024;

/**
 * Cuts `text` to at most `maxBytes` of UTF-8, marking the cut with "…". A 50 MB message costs
 * no more than its first `maxBytes` characters.
 *
 * @example
 * clip("x".repeat(5_000)).length // 1022: 1021 × "x" and "…" (3 bytes)
 */
export function clip(text: string, maxBytes = MAX_DETAIL_BYTES): string {
  if (text.length <= maxBytes && Buffer.byteLength(text, "utf8") <= maxBytes) return text;
  const head = Buffer.from(text.slice(0, maxBytes), "utf8").subarray(0, maxBytes - 3);
  // A character cut in two decodes as U+FFFD: drop it rather than store half of it.
  return `${head.toString("utf8").replace(/\uFFFD$/u, "")}…`;
}

/** Replaces every occurrence of each secret (a token) in `text`; run it before `clip`. */
export function redact(text: string, ...secrets: string[]): string {
  return secrets.reduce(
    (safe, secret) => (secret ? safe.split(secret).join("[redacted]") : safe),
    text,
  );
}
