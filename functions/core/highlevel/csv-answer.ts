/**
 * Readers of HighLevel's CSV answers, shared by the worker (its checks) and the purge planner.
 * They accept the reference's shape quirks and never throw on a body they do not recognise.
 */

export interface CsvUpload {
  _id: string;
  status?: string;
  createdAt?: string;
  fileName?: string;
  [key: string]: unknown;
}

export interface CsvListPage {
  csvs: CsvUpload[];
  total: number | undefined;
}

/** Reads a list answer; HighLevel's reference types `csvs` as an object, real answers use an array. */
export function readCsvListPage(body: unknown): CsvListPage {
  const results = (body as { results?: { csvs?: unknown; count?: unknown } } | null)?.results;
  const csvs = asList(results?.csvs).filter(
    (item): item is CsvUpload =>
      !!item && typeof item === "object" && typeof (item as CsvUpload)._id === "string",
  );
  const total = typeof results?.count === "number" ? results.count : undefined;
  return { csvs, total };
}

/** One post of an upload (`CSVPostSchema`): only what the planner looks at is typed. */
export interface CsvPost {
  scheduleDate?: string;
  [key: string]: unknown;
}

/** What `GET …/csv/:id` says of an upload: `results: {csv, count, posts[]}`. */
export interface CsvUploadAnswer {
  status: string | undefined;
  /** The upload's post count, when the answer gives one. */
  count: number | undefined;
  /** This page of its posts (`skip`/`limit`). */
  posts: CsvPost[];
}

/**
 * Reads a GET (or DELETE) answer about one upload. The worker's check reads its status; the
 * planner its posts. The reference shows `csv` as an object and `posts` as a list; a one-element
 * list for `csv`, or an object of posts, are read too.
 */
export function readCsvUpload(body: unknown): CsvUploadAnswer {
  const results = (body as { results?: { csv?: unknown; count?: unknown; posts?: unknown } } | null)
    ?.results;
  const csv = Array.isArray(results?.csv) ? results?.csv[0] : results?.csv;
  const status = (csv as { status?: unknown } | null | undefined)?.status;
  const posts = asList(results?.posts).filter(
    (post): post is CsvPost => !!post && typeof post === "object",
  );
  return {
    status: typeof status === "string" ? status : undefined,
    count: typeof results?.count === "number" ? results.count : undefined,
    posts,
  };
}

/** The status of an upload in a GET (or DELETE) answer, if it has one. */
export function readCsvStatus(body: unknown): string | undefined {
  return readCsvUpload(body).status;
}

/**
 * Whether a 2xx body agrees that HighLevel did what was asked: an empty body, or JSON that does
 * not say otherwise. `success: false`, an error `statusCode` (≥ 400), or anything that is not
 * JSON (a proxy's or a login page) does not agree.
 *
 * @example
 * bodyConfirmsSuccess(undefined) // true
 * bodyConfirmsSuccess({ success: false, statusCode: 400 }) // false
 * bodyConfirmsSuccess("<html>Sign in</html>") // false
 */
export function bodyConfirmsSuccess(body: unknown): boolean {
  if (body === undefined) return true;
  if (typeof body === "string") return false;
  if (body === null || typeof body !== "object" || Array.isArray(body)) return true;
  const { success, statusCode } = body as { success?: unknown; statusCode?: unknown };
  if (success === false) return false;
  if (typeof statusCode === "number" && statusCode >= 400) return false;
  return true;
}

function asList(raw: unknown): unknown[] {
  if (Array.isArray(raw)) return raw;
  if (raw && typeof raw === "object") return Object.values(raw);
  return [];
}
