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
 * so that no job can be deleted without a row in its run's report. When a run's lines cannot be
 * stored (the write fails, or too little time is left for it) its settled messages come back:
 * their next delivery finds the upload gone and writes the row (`already-absent`, or `deleted`
 * when the held line is written too: the report keeps the deletion). A message on its last
 * receive stays settled, its line held for the container's next write: SQS would move it to
 * the DLQ without a reason. An invocation already past its deadline writes nothing: Lambda has
 * failed it and all its messages come back.
 */
export async function recordBatchResults(
  runs: Pick<RunRecorder, "add" | "flush">,
  settled: readonly SettledMessage[],
  options: { remainingMs: number; maxReceiveCount: number },
): Promise<BatchResults> {
  if (options.remainingMs <= 0) return { report: emptyFlushReport(), comeBack: [] };
  for (const { messageId, entry } of settled) runs.add(messageId, entry);
  const writeTime = options.remainingMs - RESULTS_WRITE_MARGIN_MS;
  const report =
    writeTime > 0
      ? await runs.flush(Date.now() + writeTime)
      : { ...emptyFlushReport(), runsUnstored: [...new Set(settled.map((s) => s.entry.runId))] };
  const unstored = new Set(report.runsUnstored);
  const comeBack = settled
    .filter(
      ({ entry, receiveCount }) =>
        entry.line !== undefined &&
        unstored.has(entry.runId) &&
        receiveCount < options.maxReceiveCount,
    )
    .map(({ messageId }) => messageId);
  return { report, comeBack };
}
