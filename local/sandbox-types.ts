import type { SandboxOAuthOptions } from "./sandbox-oauth.ts";

export type CsvStatus =
  | "pending"
  | "in_progress"
  | "completed"
  | "failed"
  | "in_review"
  | "importing"
  | "deleted";

export interface SandboxPost {
  _id: string;
  /** When the post is (or was) published, ISO 8601. */
  scheduleDate: string;
  summary: string;
  accountIds: string[];
  type: string;
}

export interface SandboxUpload {
  _id: string;
  locationId: string;
  fileName: string;
  status: CsvStatus;
  createdAt: string;
  count: number;
  /** The upload's posts; deleting the upload removes them (HighLevel: "and all its associated posts"). */
  posts: SandboxPost[];
}

/** A post deleting an upload took with it, for tests to check nothing scheduled was lost. */
export interface RemovedPost extends SandboxPost {
  locationId: string;
  csvId: string;
  removedAt: number;
}

/**
 * A scripted answer: an HTTP status (with a generic body, or the body given), a dropped
 * connection, or an answer slower than `slowMs`.
 */
export type ScriptedAnswer = number | { status: number; body: unknown } | "reset" | "slow";

export interface SandboxOptions {
  /** Bearer tokens the sandbox accepts. */
  tokens: string[];
  apiVersion?: string;
  /** Burst budget per token and location; omit for a budget too large to matter. */
  burst?: { max: number; intervalMs: number };
  /** Daily budget per token and location. */
  daily?: { max: number };
  /**
   * How long each answer takes: a fixed time, or drawn evenly from a range per request
   * (HighLevel answers across the internet in a few hundred ms).
   */
  latencyMs?: number | { min: number; max: number };
  /** Random faults on DELETE, as fractions of requests. */
  faults?: { serverErrorRate?: number; resetRate?: number; slowRate?: number };
  /** How long a "slow" answer takes. */
  slowMs?: number;
  /** What a second DELETE of a soft-deleted upload answers (HighLevel's quirk). */
  softDeletedStatus?: 400 | 422;
  seed?: number;
  /** Serve HighLevel's OAuth endpoints too; CSV routes then also accept its location tokens. */
  oauth?: SandboxOAuthOptions;
}

export interface SandboxCall {
  method: string;
  path: string;
  locationId: string | undefined;
  csvId: string | undefined;
  status: number | "reset";
  headers: Record<string, string>;
  /** When the request arrived, and when its answer was sent (epoch ms). */
  at: number;
  answeredAt?: number;
}
