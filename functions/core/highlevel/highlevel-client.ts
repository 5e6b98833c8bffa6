import ky, { isNetworkError, isTimeoutError, type KyInstance } from "ky";
import pLimit, { type LimitFunction } from "p-limit";
import { sleepUntilAtMost } from "../deadline.ts";
import { clip, redact } from "../detail.ts";
import {
  type AnswerBody,
  MAX_ANSWER_BYTES,
  parseAnswerBody,
  readAnswerBody,
} from "./answer-body.ts";
import { HIGHLEVEL_API_VERSION } from "./api-version.ts";
import { type Pacer, type RateLimitHeaders, readRateLimitHeaders } from "./rate-pacer.ts";
import { tokenFingerprint } from "./token-fingerprint.ts";

export { HIGHLEVEL_API_VERSION };

/** What one logical call to HighLevel came to, after the client's own retries. */
export type HighLevelAnswer =
  | {
      kind: "answered";
      status: number;
      /** JSON when the body was complete JSON, else its text; `undefined` when empty. */
      body: unknown;
      /** Whether all of the body arrived (see AnswerBody). */
      bodyState: AnswerBody["state"];
      /**
       * HighLevel's `message` (joined when it is a list), if the body had one: the token
       * redacted, then cut to 1 KiB.
       */
      message: string | undefined;
      /** For a 3xx: the host it pointed to (redirects are never followed). */
      redirectHost?: string;
      rate: RateLimitHeaders;
      attempts: number;
      /** The deadline, not `maxAttempts`, ended the tries: fewer were made than allowed. */
      outOfTime?: true;
    }
  | { kind: "unreachable"; detail: string; attempts: number; outOfTime?: true }
  | { kind: "paced-out"; reason: "burst" | "daily"; retryAfterMs: number; attempts: number };

export type AnsweredCall = Extract<HighLevelAnswer, { kind: "answered" }>;

export interface CallContext {
  token: string;
  /** Epoch ms by which the call, retries and body included, must be over. */
  deadline: number;
  /**
   * Epoch ms after which no try may start (default: `deadline`): a call started just before the
   * deadline could not get its answer in time, and HighLevel might act on it unseen.
   */
  startBy?: number;
  /** Aborted when the caller would rather not wait for a slot any longer: the call is paced out. */
  release?: AbortSignal;
  /** Told when the call starts and stops waiting for its location's slot. */
  onSlotWait?: (waiting: boolean) => void;
}

export interface HighLevelClientOptions {
  baseUrl: string;
  apiVersion?: string;
  /** Per try: headers and body must both have arrived within it. */
  timeoutMs: number;
  /** Tries per call for 5xx, 408, network errors and timeouts. */
  maxAttempts: number;
  pacer: Pacer;
  /**
   * The longest a call waits for its location's budget; past it the call is `paced-out`, so a
   * worker lane hands the job back and takes other work instead of sleeping on one location.
   */
  maxBudgetWaitMs?: number;
  /** Called before each retry of a transient failure (for metrics). */
  onRetry?: (info: { attempt: number; reason: string }) => void;
  /** Told of every answer HighLevel gave (its status): metrics count calls and 429s. */
  onAnswer?: (status: number) => void;
  /** Upper bound of one backoff delay. */
  backoffLimitMs?: number;
  /**
   * HTTP exchanges in flight at once (sockets, memory), for every call of this client. Calls
   * waiting for their location's budget or backing off hold none. Default: unbounded.
   */
  maxInFlight?: number;
  /** The fetch that sends each call; the global one when absent. */
  fetch?: typeof fetch;
}

/** A page of the upload list is larger than one answer about one upload. */
export const MAX_LIST_ANSWER_BYTES = 1024 * 1024;

/** Every 5xx and 408 is worth another try; HighLevel answers some bad ids and tokens with a 5xx. */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status >= 500;
}

/** The budget key of DESIGN.md: HighLevel counts per app (or token) per location. */
export function budgetKey(locationId: string, token: string): string {
  return `${locationId}:${tokenFingerprint(token)}`;
}

/**
 * HighLevel's Social Planner CSV endpoints, paced by the rate-limit headers and retried (any
 * 5xx, 408, network errors, timeouts: exponential backoff with full jitter) within the caller's
 * deadline. Redirects are never followed; at most 64 KiB of an answer is read, and headers and
 * body must arrive within the per-try timeout and the deadline. It never throws for an HTTP
 * or network failure: it answers with data.
 *
 * @example
 * const client = createHighLevelClient({ baseUrl, timeoutMs: 10_000, maxAttempts: 3, pacer: new RatePacer() });
 * const answer = await client.deleteCsv("ve9EPM428h8vShlRW1KT", "65f92e55cc884f0d0845e447", { token, deadline: Date.now() + 30_000 });
 */
export function createHighLevelClient(options: HighLevelClientOptions) {
  const api = ky.create({
    prefix: options.baseUrl,
    headers: {
      Version: options.apiVersion ?? HIGHLEVEL_API_VERSION,
      Accept: "application/json",
    },
    // The retry loop below owns retries: it must pace, cap and time-bound every try and body.
    retry: 0,
    throwHttpErrors: false,
    // A redirect is never HighLevel's answer to a DELETE: following one could end on another
    // origin whose 200 says nothing about our upload.
    redirect: "manual",
    ...(options.fetch && { fetch: options.fetch }),
  });

  const inFlight = pLimit(options.maxInFlight ?? Number.POSITIVE_INFINITY);
  const call = (
    method: "get" | "delete",
    path: string,
    locationId: string,
    context: CallContext,
    maxBodyBytes = MAX_ANSWER_BYTES,
  ) => callPaced(api, options, inFlight, { method, path, maxBodyBytes }, locationId, context);

  return {
    /** Tells the rate budget that about `calls` calls for `locationId` are coming (a batch). */
    expectCalls: (locationId: string, calls: number) => options.pacer.expect?.(locationId, calls),
    /**
     * About how many calls for `locationId` its budget lets this container make from now until
     * `until` (epoch ms); `undefined` when the budget cannot tell (nothing learnt yet).
     */
    capacity: (locationId: string, until: number) => options.pacer.capacity?.(locationId, until),
    /** HTTP exchanges under way now, and waiting for room under `maxInFlight`. */
    inFlight: () => ({ active: inFlight.activeCount, waiting: inFlight.pendingCount }),
    deleteCsv: (locationId: string, csvId: string, context: CallContext) =>
      call("delete", csvPath(locationId, csvId), locationId, context),
    /** One upload and a page of its posts (HighLevel pages them with `skip` and `limit`). */
    getCsv: (
      locationId: string,
      csvId: string,
      context: CallContext,
      page: { skip: number; limit: number } = { skip: 0, limit: 1 },
    ) =>
      call(
        "get",
        `${csvPath(locationId, csvId)}?skip=${page.skip}&limit=${page.limit}`,
        locationId,
        context,
        page.limit > 1 ? MAX_LIST_ANSWER_BYTES : MAX_ANSWER_BYTES,
      ),
    listCsvs: (locationId: string, page: { skip: number; limit: number }, context: CallContext) =>
      call(
        "get",
        `social-media-posting/${encodeURIComponent(locationId)}/csv?skip=${page.skip}&limit=${page.limit}`,
        locationId,
        context,
        MAX_LIST_ANSWER_BYTES,
      ),
  };
}

export type HighLevelClient = ReturnType<typeof createHighLevelClient>;

function csvPath(locationId: string, csvId: string): string {
  return `social-media-posting/${encodeURIComponent(locationId)}/csv/${encodeURIComponent(csvId)}`;
}

interface Request {
  method: "get" | "delete";
  path: string;
  maxBodyBytes: number;
}

async function callPaced(
  api: KyInstance,
  options: HighLevelClientOptions,
  inFlight: LimitFunction,
  request: Request,
  locationId: string,
  context: CallContext,
): Promise<HighLevelAnswer> {
  const key = budgetKey(locationId, context.token);
  let attempts = 0;
  for (;;) {
    const startBy = Math.min(context.deadline, context.startBy ?? context.deadline);
    if (startBy - Date.now() <= 0) {
      return NO_TIME_LEFT(attempts);
    }
    // Waiting for a slot is a timer, not a socket: the in-flight bound applies to the exchange.
    context.onSlotWait?.(true);
    const permit = await options.pacer
      .acquire(
        key,
        context.deadline,
        Math.min(options.maxBudgetWaitMs ?? Number.POSITIVE_INFINITY, startBy - Date.now()),
        context.release,
      )
      .finally(() => context.onSlotWait?.(false));
    if (!permit.granted) {
      return {
        kind: "paced-out",
        reason: permit.reason,
        retryAfterMs: permit.retryAfterMs,
        attempts,
      };
    }
    let sentAt = Date.now();
    let sent = false;
    const outcome = await inFlight((): Promise<Exchange> | Exchange => {
      sentAt = Date.now();
      if (context.deadline - sentAt <= 0) {
        return { kind: "failed", detail: "no time left in this invocation" };
      }
      sent = true;
      return exchange(api, request, context, options);
    });
    // A try is a request sent: one that waited for a lane past the deadline is none.
    if (!sent) return NO_TIME_LEFT(attempts);
    attempts += 1;
    if (outcome.kind === "answered") {
      options.pacer.observe(key, outcome.status, outcome.rate, sentAt);
      options.onAnswer?.(outcome.status);
    }
    const transient =
      outcome.kind === "failed"
        ? outcome.detail
        : isTransientStatus(outcome.status) && `HTTP ${outcome.status}`;
    if (!transient || attempts >= options.maxAttempts) {
      return outcome.kind === "failed"
        ? { kind: "unreachable", detail: outcome.detail, attempts }
        : { ...outcome, attempts };
    }
    const backoff =
      Math.random() * Math.min(options.backoffLimitMs ?? 5_000, 300 * 2 ** (attempts - 1));
    if (Date.now() + backoff >= context.deadline) {
      return outcome.kind === "failed"
        ? { kind: "unreachable", detail: outcome.detail, attempts, outOfTime: true }
        : { ...outcome, attempts, outOfTime: true };
    }
    options.onRetry?.({ attempt: attempts + 1, reason: transient });
    await sleepUntilAtMost(backoff, context.deadline);
  }
}

const NO_TIME_LEFT = (attempts: number): HighLevelAnswer => ({
  kind: "unreachable",
  detail: "no time left in this invocation",
  attempts,
  outOfTime: true,
});

type Exchange =
  | (Omit<AnsweredCall, "attempts"> & { kind: "answered" })
  | { kind: "failed"; detail: string };

/** One try: headers within the timeout, then at most 64 KiB of body by the same time. */
async function exchange(
  api: KyInstance,
  { method, path, maxBodyBytes }: Request,
  context: CallContext,
  options: HighLevelClientOptions,
): Promise<Exchange> {
  const tryEndsAt = Math.min(context.deadline, Date.now() + options.timeoutMs);
  let response: Response;
  try {
    response = await api(path, {
      method,
      headers: { Authorization: `Bearer ${context.token}` },
      timeout: Math.max(1, tryEndsAt - Date.now()),
    });
  } catch (error) {
    return { kind: "failed", detail: clip(redact(describeFailure(error), context.token)) };
  }
  const rate = readRateLimitHeaders(response.headers);
  const bodyRead = await readAnswerBody(response, tryEndsAt, maxBodyBytes);
  const body = parseAnswerBody(bodyRead);
  return {
    kind: "answered",
    status: response.status,
    body,
    bodyState: bodyRead.state,
    message: readMessage(body, bodyRead.state, context.token),
    ...(response.status >= 300 &&
      response.status < 400 && {
        redirectHost: redirectHost(response.headers.get("location"), options.baseUrl),
      }),
    rate,
  };
}

/** Where a redirect pointed, as a host only: a Location may carry anything in its path. */
function redirectHost(location: string | null, baseUrl: string): string {
  if (!location) return "(no Location header)";
  try {
    return clip(new URL(location, `${baseUrl}/`).host || "(no host)");
  } catch {
    return "(an unreadable Location header)";
  }
}

function readMessage(body: unknown, state: AnswerBody["state"], token: string): string | undefined {
  let message: string | undefined;
  if (typeof body === "string") {
    message = body.trim() ? `not JSON: ${body.trim()}` : undefined;
  } else {
    const raw = (body as { message?: unknown } | null | undefined)?.message;
    if (typeof raw === "string") message = raw;
    else if (Array.isArray(raw)) message = raw.map(String).join("; ");
  }
  if (state === "too-large") message = `${message ?? ""} (answer cut at the read limit)`.trim();
  if (state === "timed-out") message = `${message ?? ""} (answer did not arrive in time)`.trim();
  if (state === "broken") message = `${message ?? ""} (connection broke mid-answer)`.trim();
  // Redacted before it is cut, so that no part of a token can survive at the cut.
  return message === undefined ? undefined : clip(redact(message, token));
}

/** A failure in words, without the request's headers (which hold the token). */
function describeFailure(error: unknown): string {
  if (isTimeoutError(error)) return "timed out";
  if (isNetworkError(error)) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return `network error${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ""}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : "unknown failure";
}
