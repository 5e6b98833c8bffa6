import ky, { isHTTPError, isNetworkError, isTimeoutError, type KyInstance } from "ky";
import { type RateLimitHeaders, type RatePacer, readRateLimitHeaders } from "./rate-pacer.ts";
import { tokenFingerprint } from "./token-source.ts";

export const HIGHLEVEL_API_VERSION = "2021-07-28";

/** What one logical call to HighLevel came to, after the client's own retries. */
export type HighLevelAnswer =
  | {
      kind: "answered";
      status: number;
      body: unknown;
      /** HighLevel's `message` (joined when it is a list), if the body had one. */
      message: string | undefined;
      rate: RateLimitHeaders;
      attempts: number;
    }
  | { kind: "unreachable"; detail: string; attempts: number }
  | { kind: "paced-out"; reason: "burst" | "daily"; retryAfterMs: number; attempts: number };

export interface CallContext {
  token: string;
  /** Epoch ms by which the call, retries included, must be over. */
  deadline: number;
}

export interface HighLevelClientOptions {
  baseUrl: string;
  apiVersion?: string;
  timeoutMs: number;
  /** Tries per call for 5xx, 408, network errors and timeouts. */
  maxAttempts: number;
  pacer: RatePacer;
  /** Called before each retry of a transient failure (for metrics). */
  onRetry?: (info: { attempt: number; reason: string }) => void;
  /** Upper bound of one backoff delay. */
  backoffLimitMs?: number;
}

export interface CsvListPage {
  csvs: CsvUpload[];
  total: number | undefined;
}

export interface CsvUpload {
  _id: string;
  status?: string;
  createdAt?: string;
  fileName?: string;
  [key: string]: unknown;
}

const TRANSIENT_STATUSES = [408, 500, 502, 503, 504];

class PacedOut extends Error {
  readonly permit: { reason: "burst" | "daily"; retryAfterMs: number };
  constructor(permit: { reason: "burst" | "daily"; retryAfterMs: number }) {
    super(`rate budget exhausted (${permit.reason})`);
    this.permit = permit;
  }
}

/** The budget key of DESIGN.md: HighLevel counts per app (or token) per location. */
export function budgetKey(locationId: string, token: string): string {
  return `${locationId}:${tokenFingerprint(token)}`;
}

/**
 * HighLevel's Social Planner CSV endpoints, paced by the rate-limit headers and retried
 * (5xx, 408, network errors, timeouts: exponential backoff with full jitter) within the
 * caller's deadline. It never throws for an HTTP or network failure: it answers with data.
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
    retry: {
      limit: Math.max(0, options.maxAttempts - 1),
      methods: ["get", "delete"],
      statusCodes: TRANSIENT_STATUSES,
      afterStatusCodes: [],
      jitter: true,
      retryOnTimeout: true,
      backoffLimit: options.backoffLimitMs ?? 5_000,
    },
    // 429 and the other 4xx come back as answers; only transient statuses are thrown (and retried).
    throwHttpErrors: (status) => TRANSIENT_STATUSES.includes(status),
  });

  const call = (method: "get" | "delete", path: string, locationId: string, context: CallContext) =>
    callPaced(api, options, method, path, locationId, context);

  return {
    deleteCsv: (locationId: string, csvId: string, context: CallContext) =>
      call("delete", csvPath(locationId, csvId), locationId, context),
    getCsv: (locationId: string, csvId: string, context: CallContext) =>
      call("get", csvPath(locationId, csvId), locationId, context),
    listCsvs: (locationId: string, page: { skip: number; limit: number }, context: CallContext) =>
      call(
        "get",
        `social-media-posting/${encodeURIComponent(locationId)}/csv?skip=${page.skip}&limit=${page.limit}`,
        locationId,
        context,
      ),
  };
}

export type HighLevelClient = ReturnType<typeof createHighLevelClient>;

/** Reads a list answer; HighLevel's reference types `csvs` as an object, real answers use an array. */
export function readCsvListPage(body: unknown): CsvListPage {
  const results = (body as { results?: { csvs?: unknown; count?: unknown } } | null)?.results;
  const raw = results?.csvs;
  const list = Array.isArray(raw) ? raw : raw && typeof raw === "object" ? Object.values(raw) : [];
  const csvs = list.filter(
    (item): item is CsvUpload =>
      !!item && typeof item === "object" && typeof (item as CsvUpload)._id === "string",
  );
  const total = typeof results?.count === "number" ? results.count : undefined;
  return { csvs, total };
}

/** The status of an upload in a GET answer, if it has one. */
export function readCsvStatus(body: unknown): string | undefined {
  const csv = (body as { results?: { csv?: { status?: unknown } } } | null)?.results?.csv;
  return typeof csv?.status === "string" ? csv.status : undefined;
}

function csvPath(locationId: string, csvId: string): string {
  return `social-media-posting/${encodeURIComponent(locationId)}/csv/${encodeURIComponent(csvId)}`;
}

async function callPaced(
  api: KyInstance,
  options: HighLevelClientOptions,
  method: "get" | "delete",
  path: string,
  locationId: string,
  context: CallContext,
): Promise<HighLevelAnswer> {
  const key = budgetKey(locationId, context.token);
  let attempts = 0;
  let sentAt = 0;
  const waitForBudget = async () => {
    const permit = await options.pacer.acquire(key, context.deadline);
    if (!permit.granted) throw new PacedOut(permit);
    attempts += 1;
    sentAt = Date.now();
  };

  const timeLeft = context.deadline - Date.now();
  if (timeLeft <= 0) {
    return { kind: "unreachable", detail: "no time left in this invocation", attempts };
  }
  try {
    const response = await api(path, {
      method,
      headers: { Authorization: `Bearer ${context.token}` },
      timeout: Math.max(1, Math.min(options.timeoutMs, timeLeft)),
      totalTimeout: timeLeft,
      hooks: {
        beforeRequest: [waitForBudget],
        beforeRetry: [
          async ({ error, retryCount }) => {
            options.onRetry?.({ attempt: retryCount + 1, reason: describeFailure(error) });
            await waitForBudget();
          },
        ],
        afterResponse: [
          ({ response }) => {
            options.pacer.observe(
              key,
              response.status,
              readRateLimitHeaders(response.headers),
              sentAt,
            );
          },
        ],
      },
    });
    const body = await readBody(response);
    return answered(response.status, body, response.headers, attempts);
  } catch (error) {
    if (error instanceof PacedOut) {
      return { kind: "paced-out", ...error.permit, attempts };
    }
    if (isHTTPError(error)) {
      return answered(error.response.status, error.data, error.response.headers, attempts);
    }
    return { kind: "unreachable", detail: describeFailure(error), attempts };
  }
}

function answered(
  status: number,
  body: unknown,
  headers: Headers,
  attempts: number,
): HighLevelAnswer {
  return {
    kind: "answered",
    status,
    body,
    message: readMessage(body),
    rate: readRateLimitHeaders(headers),
    attempts,
  };
}

async function readBody(response: Response): Promise<unknown> {
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function readMessage(body: unknown): string | undefined {
  if (typeof body === "string") return body || undefined;
  const message = (body as { message?: unknown } | null | undefined)?.message;
  if (typeof message === "string") return message;
  if (Array.isArray(message)) return message.map(String).join("; ");
  return undefined;
}

/** A failure in words, without the request's headers (which hold the token). */
function describeFailure(error: unknown): string {
  if (isHTTPError(error)) return `HTTP ${error.response.status}`;
  if (isTimeoutError(error)) return "timed out";
  if (isNetworkError(error)) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return `network error${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ""}`;
  }
  return error instanceof Error ? `${error.name}: ${error.message}` : "unknown failure";
}
