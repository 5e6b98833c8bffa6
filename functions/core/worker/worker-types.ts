import type { SQSClient } from "@aws-sdk/client-sqs";
import type { WorkerConfig } from "../config.ts";
import type { HighLevelClient } from "../highlevel/highlevel-client.ts";
import type { TokenSource } from "../highlevel/token-source.ts";
import type { EntryParts, RunEntry, RunRecorder } from "../runs/run-recorder.ts";
import type { WorkerLog } from "../worker-log.ts";
import type { FailureReason } from "./outcome.ts";

/** The shapes the batch settler and its parts share (kept apart so that they import no cycle). */
export type JobOutcome =
  | "deleted"
  | "already-absent"
  | "dead-lettered"
  | "deferred"
  | "redelivered"
  /** Another copy of the same job in the batch was dead-lettered, deferred or left for redelivery. */
  | "duplicate-removed"
  /** Its location's budget could not serve it in this invocation: back on the queue for later. */
  | "handed-back";

export interface JobResult {
  messageId: string;
  /** The job's first message when this one is a deferral of it (`QueueMessage.originId`). */
  originId?: string;
  outcome: JobOutcome;
  reason?: FailureReason;
  /** True when another message of the same batch carried the same job. */
  duplicate?: boolean;
  /** Deferred because the OAuth token had expired (or stayed refused): metric `TokenExpired`. */
  tokenExpired?: boolean;
  /** Calls made to HighLevel for this message. */
  calls: number;
  /** What the job's run records: set once the job is settled for good (or a copy of one). */
  run?: RunEntry;
  /** `run` was recorded already (a dead letter is recorded before it is parked). */
  runRecorded?: boolean;
  /** What of `run` that early record could not store: the batch's write tries again. */
  runMissing?: EntryParts;
}

export interface WorkerDeps {
  config: Pick<
    WorkerConfig,
    "queueUrl" | "deadLetterQueueUrl" | "maxReceiveCount" | "maxDeferrals" | "budgetWaitMs"
  >;
  client: HighLevelClient;
  tokens: TokenSource;
  /** The SQS client, created on first use (see dead-letter.ts). */
  sqs: () => Promise<SQSClient>;
  log: WorkerLog;
  /** Called once per settled message (metrics). */
  onSettled?: (result: JobResult) => void;
  /** Aborted when the process is stopping: jobs still waiting for a slot are handed back. */
  stopping?: AbortSignal;
  /** Records a settled job at once (dead letters, before they are parked). */
  runs?: Pick<RunRecorder, "recordNow">;
}
