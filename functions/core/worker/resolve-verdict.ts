import { beforeDeadline, DeadlineExceeded } from "../deadline.ts";
import { clip, redact } from "../detail.ts";
import { bodyConfirmsSuccess, readCsvStatus } from "../highlevel/csv-answer.ts";
import type { AnsweredCall, CallContext, HighLevelClient } from "../highlevel/highlevel-client.ts";
import { DOCUMENTED_BURST } from "../highlevel/rate-pacer.ts";
import {
  MissingTokenError,
  TokenExpiredError,
  type TokenSource,
} from "../highlevel/token-source.ts";
import type { DeletionJob } from "../producers/deletion-job.ts";
import { classifyStatus, type Verdict } from "./outcome.ts";

/** Throttled answers one job may draw in one invocation before it is deferred instead. */
export const MAX_THROTTLED_ANSWERS = 5;

/** What HighLevel is asked with: the client and the token source. */
export interface VerdictDeps {
  client: HighLevelClient;
  tokens: TokenSource;
}

/** When the job's calls must be over (`deadline`) and by when each must have started (`startBy`). */
export type VerdictTiming = Pick<CallContext, "deadline" | "startBy" | "release" | "onSlotWait">;

/** Talks to HighLevel until the job's verdict is known, following DESIGN.md's table. */
export async function resolveVerdict(
  job: DeletionJob,
  deps: VerdictDeps,
  timing: VerdictTiming,
): Promise<Verdict> {
  const { deadline } = timing;
  let token: string;
  try {
    token = await readToken(deps.tokens, job.locationId, deadline);
  } catch (error) {
    return tokenFailure(error, 0);
  }
  // HighLevel's messages arrive redacted and cut; what the worker adds to them is cut again.
  const safe = (text: string) => clip(redact(text, token));
  let attempts = 0;
  let tokenReread = false;
  let throttledAnswers = 0;

  for (;;) {
    const answer = await deps.client.deleteCsv(job.locationId, job.csvId, { ...timing, token });
    attempts += answer.attempts;
    if (answer.kind === "paced-out") {
      return pacedOut(answer, throttledAnswers > 0 ? 429 : undefined, attempts);
    }
    if (answer.kind === "unreachable") {
      if (throttledAnswers > 0) {
        // Time ran out while HighLevel was throttling this job: wait it out on the queue.
        return {
          kind: "throttled",
          status: 429,
          retryAfterMs: DOCUMENTED_BURST.intervalMs,
          detail: `HighLevel answered 429 ${throttledAnswers} times and the invocation ran out of time`,
          attempts,
        };
      }
      return {
        kind: "transient",
        detail: safe(answer.detail),
        attempts,
        ...(answer.outOfTime && { outOfTime: true }),
      };
    }
    const detail = safe(answer.message ?? `HTTP ${answer.status}`);
    switch (classifyStatus(answer.status)) {
      case "deleted":
        if (answer.bodyState === "complete" && bodyConfirmsSuccess(answer.body)) {
          return { kind: "deleted", attempts };
        }
        // A 2xx whose body disagrees (a proxy's page, `success: false`) proves nothing: look.
        return checkUpload(
          job,
          deps,
          { ...timing, token },
          answer,
          attempts,
          safe(
            `HighLevel answered ${answer.status} but its answer did not confirm the deletion: ${answer.message ?? "(no message)"}`,
          ),
        );
      case "redirected":
        return {
          kind: "rejected",
          status: answer.status,
          detail: `HighLevel answered ${answer.status}, a redirect to ${answer.redirectHost ?? "an unknown host"}; redirects are never followed`,
          attempts,
        };
      case "already-absent":
        return { kind: "already-absent", attempts };
      case "transient":
        return {
          kind: "transient",
          status: answer.status,
          detail,
          attempts,
          ...(answer.outOfTime && { outOfTime: true }),
        };
      case "throttled":
        throttledAnswers += 1;
        if (throttledAnswers >= MAX_THROTTLED_ANSWERS) {
          return {
            kind: "throttled",
            status: answer.status,
            retryAfterMs: answer.rate.intervalMs ?? DOCUMENTED_BURST.intervalMs,
            detail: `HighLevel answered 429 ${throttledAnswers} times in this invocation`,
            attempts,
          };
        }
        // The pacer now holds this location back (at least 1 s); the next call waits or gives up.
        continue;
      case "unauthorized":
        if (/location is not active/i.test(answer.message ?? "")) {
          // A paused SaaS location: only its own jobs fail, and no refresh will mend it.
          return {
            kind: "unauthorized",
            status: answer.status,
            detail: `HighLevel says location ${job.locationId} is not active (a paused sub-account): ${detail}`,
            attempts,
          };
        }
        if (tokenReread) {
          if (deps.tokens.usesOAuth()) {
            // An OAuth token refused after a re-read waits for the refresher, it is not the job's fault.
            return tokenExpiredVerdict(
              `HighLevel still refused the OAuth token after a re-read: ${detail}`,
              attempts,
            );
          }
          return { kind: "unauthorized", status: answer.status, detail, attempts };
        }
        tokenReread = true;
        try {
          await deps.tokens.refresh();
          token = await readToken(deps.tokens, job.locationId, deadline);
        } catch (error) {
          return tokenFailure(error, attempts);
        }
        continue;
      case "rejected":
        // HighLevel may answer 400/422 for an upload that is already soft-deleted: look before dead-lettering.
        return checkUpload(job, deps, { ...timing, token }, answer, attempts, detail);
    }
  }
}

/**
 * The GET check of DESIGN.md's table, after a refusal or a 2xx that did not confirm: the upload
 * gone or `status: deleted` → already-absent; otherwise rejected with `detail`. A check that
 * cannot be made is no evidence either way: throttled → deferred, else transient.
 */
async function checkUpload(
  job: DeletionJob,
  deps: Pick<VerdictDeps, "client">,
  context: CallContext,
  answer: AnsweredCall,
  attemptsSoFar: number,
  detail: string,
): Promise<Verdict> {
  // The check needs the status only: the default page of one post keeps the answer small.
  const check = await deps.client.getCsv(job.locationId, job.csvId, context);
  const attempts = attemptsSoFar + check.attempts;
  if (check.kind === "paced-out") {
    return pacedOut(
      check,
      undefined,
      attempts,
      `${detail}; the check of the upload had to wait for the rate budget`,
    );
  }
  if (check.kind === "answered" && check.status === 429) {
    return {
      kind: "throttled",
      status: 429,
      retryAfterMs: check.rate.intervalMs ?? DOCUMENTED_BURST.intervalMs,
      detail: `${detail}; the check of the upload was throttled`,
      attempts,
    };
  }
  if (check.kind === "unreachable" || classifyStatus(check.status) === "transient") {
    // Without the check a soft-deleted upload would look rejected: try again later instead.
    const why = check.kind === "unreachable" ? check.detail : `HTTP ${check.status}`;
    return {
      kind: "transient",
      detail: clip(redact(`${detail}; checking the upload failed: ${why}`, context.token)),
      attempts,
      ...(check.outOfTime && { outOfTime: true }),
    };
  }
  if (isGone(check)) return { kind: "already-absent", attempts };
  return { kind: "rejected", status: answer.status, detail, attempts };
}

/**
 * Before a job is dead-lettered as exhausted: a try whose answer was lost (a reset, a timeout)
 * may have deleted the upload, so one GET looks. Gone → already-absent; anything else (still
 * there, or no answer) leaves the verdict as it was, with the GET's attempt counted.
 */
export async function lookBeforeExhausting(
  job: DeletionJob,
  verdict: Extract<Verdict, { kind: "transient" }>,
  deps: VerdictDeps,
  timing: VerdictTiming,
): Promise<Verdict> {
  let token: string;
  try {
    token = await readToken(deps.tokens, job.locationId, timing.deadline);
  } catch {
    return verdict;
  }
  const check = await deps.client.getCsv(job.locationId, job.csvId, { ...timing, token });
  const attempts = verdict.attempts + check.attempts;
  if (check.kind === "answered" && isGone(check)) return { kind: "already-absent", attempts };
  return { ...verdict, attempts };
}

function isGone(check: AnsweredCall): boolean {
  return (
    check.status === 404 ||
    (check.status >= 200 &&
      check.status < 300 &&
      check.bodyState === "complete" &&
      readCsvStatus(check.body) === "deleted")
  );
}

function pacedOut(
  answer: Extract<Awaited<ReturnType<HighLevelClient["getCsv"]>>, { kind: "paced-out" }>,
  status: number | undefined,
  attempts: number,
  detail?: string,
): Verdict {
  return {
    kind: "throttled",
    ...(answer.reason === "burst" && status === undefined && { budgetWait: true }),
    ...(status !== undefined && { status }),
    retryAfterMs: answer.retryAfterMs,
    detail:
      detail ??
      (answer.reason === "daily"
        ? "HighLevel's daily rate budget for this location is used up"
        : "HighLevel's burst rate budget for this location stayed exhausted for the rest of the invocation"),
    attempts,
  };
}

function readToken(tokens: TokenSource, locationId: string, deadline: number): Promise<string> {
  return beforeDeadline(deadline, "reading the HighLevel token", () => tokens.tokenFor(locationId));
}
/** Deferred until the refresher has renewed the token (it runs hourly; `auth refresh` now). */
const TOKEN_WAIT_MS = 5 * 60_000;

function tokenExpiredVerdict(detail: string, attempts: number): Verdict {
  return { kind: "throttled", retryAfterMs: TOKEN_WAIT_MS, detail, attempts, tokenExpired: true };
}

function tokenFailure(error: unknown, attempts: number): Verdict {
  if (error instanceof TokenExpiredError) return tokenExpiredVerdict(error.message, attempts);
  if (error instanceof MissingTokenError) {
    return { kind: "unauthorized", detail: error.message, attempts };
  }
  if (error instanceof DeadlineExceeded) {
    return { kind: "transient", detail: "the token could not be read in time", attempts };
  }
  const detail =
    error instanceof Error ? `token lookup failed: ${error.name}` : "token lookup failed";
  return { kind: "transient", detail, attempts };
}
