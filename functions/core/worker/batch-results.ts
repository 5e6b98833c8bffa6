import {
  emptyFlushReport,
  type FlushReport,
  type RunEntry,
  type RunRecorder,
} from "../runs/run-recorder.ts";

/** The results write ends this long before the invocation's deadline. */
export const RESULTS_WRITE_MARGIN_MS = 100;

/** A message the batch settled, and what its run is told of it. */
export interface SettledMessage {
  messageId: string;
  receiveCount: number;
  entry: RunEntry;
}

export interface BatchResults {
  report: FlushReport;
  /** Messages to leave on the queue: their result lines could not be stored. */
  comeBack: string[];
}

/**
 * Writes the results of the messages a batch settled before those messages leave the queue,
 * so that no job can be deleted without a row in its run's report, nor without its count in
 * the run's record. When a run's lines cannot be
 * stored (the write fails, or too little time is left for it) its settled messages come back:
 * their next delivery finds the upload gone and writes the row (`already-absent`, or `deleted`
 * when the held line is written too: the report keeps the deletion). A message on its last
 * receive stays settled, its line held for the container's next write: SQS would move it to
 * the DLQ without a reason. An invocation already past its deadline writes nothing: Lambda has
 * failed it and all its messages come back.
 */
export async function recordBatchResults(
  runs: Pick<RunRecorder, "add" | "flush" | "countsRecorded">,
  settled: readonly SettledMessage[],
  options: { remainingMs: number; maxReceiveCount: number },
): Promise<BatchResults> {
  if (options.remainingMs <= 0) return { report: emptyFlushReport(), comeBack: [] };
  for (const { messageId, entry } of settled) runs.add(messageId, entry);
  const writeTime = options.remainingMs - RESULTS_WRITE_MARGIN_MS;
  const allRuns = [...new Set(settled.map((s) => s.entry.runId))];
  const report =
    writeTime > 0
      ? await runs.flush(Date.now() + writeTime)
      : {
          ...emptyFlushReport(),
          runsUnstored: allRuns,
          runsUncounted: runs.countsRecorded ? allRuns : [],
        };
  const unstored = new Set(report.runsUnstored);
  const uncounted = new Set(report.runsUncounted);
  // Counts held in the container die with it (the run would never show finished): a message
  // whose count is not in the record comes back too, duplicate copies included; its next
  // delivery counts it (a second count of a settled job is what a record already tolerates).
  const comeBack = settled
    .filter(
      ({ entry, receiveCount }) =>
        receiveCount < options.maxReceiveCount &&
        ((entry.line !== undefined && unstored.has(entry.runId)) || uncounted.has(entry.runId)),
    )
    .map(({ messageId }) => messageId);
  return { report, comeBack };
}
