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

/** The status of an upload in a GET (or DELETE) answer, if it has one. */
export function readCsvStatus(body: unknown): string | undefined {
  const csv = (body as { results?: { csv?: unknown } } | null)?.results?.csv;
  // The reference shows `csv` as an object; tolerate a one-element list too.
  const first = Array.isArray(csv) ? csv[0] : csv;
  const status = (first as { status?: unknown } | null | undefined)?.status;
  return typeof status === "string" ? status : undefined;
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
