import * as v from "valibot";

/** A HighLevel id as it may appear in a URL path segment: nothing that could escape the segment. */
export const HIGHLEVEL_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** SQS allows 256 KiB, but a deletion job is a few hundred bytes: anything larger is not a job. */
export const MAX_JOB_BODY_BYTES = 16 * 1024;

const highLevelId = v.pipe(
  v.string("must be a string"),
  v.minLength(1, "must not be empty"),
  v.maxLength(64, "must be at most 64 characters"),
  v.regex(HIGHLEVEL_ID_PATTERN, "may contain only letters, digits, '_' and '-'"),
);

/** Null counts as absent: the stack's per-day event rule passes a missing detail field as null. */
const optionalText = (maxLength: number) =>
  v.optional(
    v.pipe(
      v.nullable(
        v.pipe(
          v.string("must be a string"),
          v.maxLength(maxLength, `must be at most ${maxLength} characters`),
        ),
      ),
      v.transform((value) => value ?? undefined),
    ),
  );

/** A run id (DESIGN.md "Runs and reports"): safe in an S3 key and a table key. */
export const RUN_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const runId = v.optional(
  v.pipe(
    v.string("must be a string"),
    v.regex(
      RUN_ID_PATTERN,
      "must be 1–128 letters, digits, '_', '.' or '-', starting with a letter or digit",
    ),
  ),
);

/** The deletion job schema of DESIGN.md. Unknown extra fields are dropped. */
export const DeletionJobSchema = v.object(
  {
    locationId: highLevelId,
    csvId: highLevelId,
    runId,
    /** Set by the stack's event rule on events without a `runId`: they count under that UTC day's run. */
    eventTime: optionalText(40),
    reason: optionalText(256),
    requestedBy: optionalText(128),
    correlationId: optionalText(128),
  },
  "must be a JSON object",
);

export type DeletionJob = v.InferOutput<typeof DeletionJobSchema>;

export type JobParseResult = { ok: true; job: DeletionJob } | { ok: false; error: string };

/**
 * Validates an already-decoded value as a deletion job.
 *
 * @example
 * validateDeletionJob({ locationId: "loc1", csvId: "csv1" }) // { ok: true, job: {...} }
 * validateDeletionJob({ locationId: "a/b", csvId: "x" })    // { ok: false, error: "locationId: may contain only ..." }
 */
export function validateDeletionJob(value: unknown): JobParseResult {
  const result = v.safeParse(DeletionJobSchema, value, { abortPipeEarly: true });
  if (result.success) {
    return { ok: true, job: stripUndefined(result.output) };
  }
  return { ok: false, error: describeIssues(result.issues) };
}

/**
 * Parses a queue message body into a deletion job, or says exactly what is wrong with it.
 *
 * @example
 * parseDeletionJob('{"locationId":"ve9EPM428h8vShlRW1KT","csvId":"65f92e55cc884f0d0845e447"}')
 */
export function parseDeletionJob(body: string): JobParseResult {
  const bytes = Buffer.byteLength(body, "utf8");
  if (bytes > MAX_JOB_BODY_BYTES) {
    return {
      ok: false,
      error: `body is ${bytes} bytes, more than the ${MAX_JOB_BODY_BYTES} allowed`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { ok: false, error: "body is not valid JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    return { ok: false, error: `body must be a JSON object, got ${kind}` };
  }
  return validateDeletionJob(value);
}

/**
 * The SQS message group of a job: its location. On a standard queue this makes it a fair queue,
 * where one location's backlog (a sorted export) does not hold back the others' jobs.
 */
export function messageGroupOf(job: Pick<DeletionJob, "locationId">): string {
  return job.locationId;
}

/** The identity of a job: two jobs with the same key delete the same upload. */
export function jobKey(job: Pick<DeletionJob, "locationId" | "csvId">): string {
  return `${job.locationId}/${job.csvId}`;
}

function describeIssues(issues: readonly v.BaseIssue<unknown>[]): string {
  return issues
    .map((issue) => {
      const path = v.getDotPath(issue);
      const message =
        issue.kind === "schema" && issue.received === "undefined" ? "is required" : issue.message;
      return path ? `${path}: ${message}` : message;
    })
    .join("; ");
}

function stripUndefined(job: DeletionJob): DeletionJob {
  return Object.fromEntries(
    Object.entries(job).filter(([, value]) => value !== undefined && value !== null),
  ) as DeletionJob;
}

/** A job with its place in what it was read from (a file's order, and its line there). */
export interface IndexedJob {
  index: number;
  job: DeletionJob;
  /** The job's line in its file, when it came from one. */
  line?: number;
}
