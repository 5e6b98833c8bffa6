/** The most of any answer the worker reads; the rest is cancelled unread. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** How much of an answer's body arrived, and whether all of it did. */
export interface AnswerBody {
  /** The body as text (at most MAX_ANSWER_BYTES of it). */
  text: string;
  /**
   * `complete`: all of it; `too-large`: cut at the cap; `timed-out`: it had not all arrived by
   * the deadline; `broken`: the connection failed mid-body.
   */
  state: "complete" | "too-large" | "timed-out" | "broken";
}

/**
 * Reads at most `maxBytes` of `response`'s body, giving up at `deadline` (epoch ms): a body
 * trickled one byte a second or one of 50 MB costs neither time nor memory past those bounds.
 * What is not read is cancelled, which closes the connection.
 *
 * @example
 * const body = await readAnswerBody(response, Date.now() + 2_000);
 * if (body.state === "complete") JSON.parse(body.text);
 */
export async function readAnswerBody(
  response: Response,
  deadline: number,
  maxBytes = MAX_ANSWER_BYTES,
): Promise<AnswerBody> {
  if (!response.body) return { text: "", state: "complete" };
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timed-out">((resolve) => {
    timer = setTimeout(() => resolve("timed-out"), Math.max(0, deadline - Date.now()));
  });
  const stop = (state: AnswerBody["state"]): AnswerBody => {
    // Not awaited: a peer that stopped sending must not hold us up while the stream closes.
    reader.cancel().catch(() => {});
    return { text: text + decoder.decode(), state };
  };
  try {
    for (;;) {
      const chunk = await Promise.race([reader.read(), timedOut]);
      if (chunk === "timed-out") return stop("timed-out");
      if (chunk.done) return { text: text + decoder.decode(), state: "complete" };
      const room = maxBytes - bytes;
      const part = chunk.value.byteLength > room ? chunk.value.subarray(0, room) : chunk.value;
      bytes += part.byteLength;
      text += decoder.decode(part, { stream: true });
      if (chunk.value.byteLength > room) return stop("too-large");
    }
  } catch {
    // The connection broke mid-body: what arrived is all there is.
    return { text: text + decoder.decode(), state: "broken" };
  } finally {
    clearTimeout(timer);
  }
}

/** The body as JSON when it is complete JSON, else its text (`undefined` when empty). */
export function parseAnswerBody(body: AnswerBody): unknown {
  const trimmed = body.text.trim();
  if (!trimmed) return undefined;
  if (body.state !== "complete") return body.text;
  try {
    return JSON.parse(trimmed);
  } catch {
    return body.text;
  }
}
