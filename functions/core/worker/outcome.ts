/**
 * The outcome rules of DESIGN.md's table, as data and pure functions.
 *
 * | HighLevel's answer            | verdict         | then                                              |
 * |-------------------------------|-----------------|---------------------------------------------------|
 * | 2xx, body empty or agreeing   | deleted         | remove                                            |
 * | 2xx, body disagreeing         | (checked)       | GET to check, as a 400                            |
 * | 3xx (never followed)          | rejected        | DLQ, detail names the target host                 |
 * | 404                           | already-absent  | remove                                            |
 * | 400, 422, other 4xx           | rejected        | GET to check: gone/deleted → already-absent; else DLQ |
 * | 401, 403                      | unauthorized    | re-read token, try once more; else DLQ            |
 * | 429                           | throttled       | wait and retry in time; else defer; DLQ after MAX_DEFERRALS |
 * | (budget booked past the horizon) | throttled     | hand back until its turn, or defer on the last receive |
 * | any 5xx, 408, network, timeout| transient       | last receive → DLQ `exhausted`; else redeliver    |
 * | invalid body                  | invalid-job     | DLQ                                               |
 */

export type FailureReason = "invalid-job" | "rejected" | "unauthorized" | "exhausted" | "throttled";

export const FAILURE_REASONS: readonly FailureReason[] = [
  "invalid-job",
  "rejected",
  "unauthorized",
  "exhausted",
  "throttled",
];

/** What HighLevel's answers came to for one job. */
export type Verdict =
  | { kind: "deleted"; attempts: number }
  | { kind: "already-absent"; attempts: number }
  | { kind: "rejected"; status: number; detail: string; attempts: number }
  | { kind: "unauthorized"; status?: number; detail: string; attempts: number }
  | {
      kind: "throttled";
      retryAfterMs: number;
      detail: string;
      status?: number;
      attempts: number;
      /** Only waiting for the (fleet's) budget: HighLevel refused nothing. */
      budgetWait?: boolean;
      /** Waiting for the token refresher: the OAuth access token expired or is refused. */
      tokenExpired?: boolean;
    }
  | {
      kind: "transient";
      detail: string;
      status?: number;
      attempts: number;
      /** The invocation's time, not HIGHLEVEL_MAX_ATTEMPTS, ended this delivery's tries. */
      outOfTime?: boolean;
    }
  | { kind: "invalid-job"; detail: string };

export type AnswerClass =
  | "deleted"
  | "redirected"
  | "already-absent"
  | "rejected"
  | "unauthorized"
  | "throttled"
  | "transient";

/**
 * Classifies one HTTP status from the DELETE endpoint. A 2xx is `deleted` only by its status:
 * the worker still checks that its body agrees.
 */
export function classifyStatus(status: number): AnswerClass {
  if (status >= 200 && status < 300) return "deleted";
  if (status >= 300 && status < 400) return "redirected";
  if (status === 404) return "already-absent";
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 429) return "throttled";
  if (status === 408 || status >= 500) return "transient";
  return "rejected";
}

/** What happens to the queue message once the verdict is known. */
export type Disposition =
  | { action: "remove"; outcome: "deleted" | "already-absent" }
  | {
      action: "dead-letter";
      reason: FailureReason;
      status?: number;
      detail: string;
      attempts: number;
    }
  | { action: "defer"; delaySeconds: number; deferrals: number }
  | { action: "hand-back"; visibilitySeconds: number }
  | { action: "redeliver"; detail: string };

export interface DeliveryFacts {
  /** SQS's ApproximateReceiveCount of this delivery. */
  receiveCount: number;
  maxReceiveCount: number;
  /** Times this job has been deferred already (the `deferrals` message attribute). */
  deferrals: number;
  maxDeferrals: number;
}

/** SQS's ceiling for DelaySeconds. */
export const MAX_DELAY_SECONDS = 900;
/**
 * How many deferrals a job whose tries its invocations' time cut short may have before it is
 * exhausted: enough for a busy moment, few enough that a HighLevel that hangs (every try a
 * timeout) still fills the DLQ within minutes.
 */
const CUT_SHORT_MAX_DEFERRALS = 5;

/**
 * Decides the fate of a message from its verdict and how often it has been seen.
 *
 * @example
 * decideDisposition({ kind: "transient", status: 503, detail: "HTTP 503", attempts: 3 },
 *   { receiveCount: 5, maxReceiveCount: 5, deferrals: 0, maxDeferrals: 100 })
 * // → { action: "dead-letter", reason: "exhausted", status: 503, ... }
 */
export function decideDisposition(verdict: Verdict, facts: DeliveryFacts): Disposition {
  switch (verdict.kind) {
    case "deleted":
    case "already-absent":
      return { action: "remove", outcome: verdict.kind };
    case "invalid-job":
      return { action: "dead-letter", reason: "invalid-job", detail: verdict.detail, attempts: 0 };
    case "rejected":
    case "unauthorized":
      return {
        action: "dead-letter",
        reason: verdict.kind,
        ...(verdict.status !== undefined && { status: verdict.status }),
        detail: verdict.detail,
        attempts: verdict.attempts,
      };
    case "throttled":
      // Each hand-back spends a receive, and SQS dead-letters a message by its receives: from
      // its second-to-last receive on, a budget wait is deferred instead (a fresh message), so
      // that at least two receives stay for real tries and budget waits never end as exhausted.
      if (verdict.budgetWait && facts.receiveCount < facts.maxReceiveCount - 1) {
        // The invocation is not held open by one location: the job comes back just before its
        // turn (whole seconds, rounded down, so that it is received in time to book its slot).
        // Growing the wait per receive was measured and dropped: a hot location's jobs came
        // back long after the budget had room (0.46 of its ceiling at K = 4, 0.91 without).
        return {
          action: "hand-back",
          visibilitySeconds: Math.min(
            MAX_DELAY_SECONDS,
            Math.max(1, Math.floor(verdict.retryAfterMs / 1000)),
          ),
        };
      }
      if (facts.deferrals >= facts.maxDeferrals) {
        return {
          action: "dead-letter",
          reason: "throttled",
          ...(verdict.status !== undefined && { status: verdict.status }),
          detail: `${verdict.detail}; deferred ${facts.deferrals} times already`,
          attempts: verdict.attempts,
        };
      }
      return {
        action: "defer",
        delaySeconds: Math.min(
          MAX_DELAY_SECONDS,
          Math.max(1, Math.ceil(verdict.retryAfterMs / 1000)),
        ),
        deferrals: facts.deferrals + 1,
      };
    case "transient":
      if (facts.receiveCount >= facts.maxReceiveCount) {
        // Exhausted means the last delivery made all its tries. A delivery that sent no call
        // (its time ran out waiting for a slot or a lane) is deferred as a job not started is;
        // one whose tries the deadline cut short is deferred a few times, backing off.
        if (verdict.attempts === 0 && facts.deferrals < facts.maxDeferrals) {
          return { action: "defer", delaySeconds: 1, deferrals: facts.deferrals + 1 };
        }
        if (
          verdict.outOfTime &&
          facts.deferrals < Math.min(facts.maxDeferrals, CUT_SHORT_MAX_DEFERRALS)
        ) {
          return {
            action: "defer",
            delaySeconds: 2 ** facts.deferrals,
            deferrals: facts.deferrals + 1,
          };
        }
        return {
          action: "dead-letter",
          reason: "exhausted",
          ...(verdict.status !== undefined && { status: verdict.status }),
          detail: verdict.detail,
          attempts: verdict.attempts,
        };
      }
      return { action: "redeliver", detail: verdict.detail };
  }
}
