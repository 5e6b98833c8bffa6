import { mkdirSync } from "node:fs";
import { basename } from "node:path";
import { closeRun, sendDeletionJobs } from "../functions/core/producers/enqueue.ts";
import { checkJobFile, validJobsFrom } from "../functions/core/producers/job-file.ts";
import { Watermark } from "../functions/core/producers/watermark.ts";
import { newRunId } from "../functions/core/runs/run-id.ts";
import { RunTable } from "../functions/core/runs/run-table.ts";
import { LOCAL_LIVE_FUNCTION_TIMEOUT_SECONDS } from "../infra/settings.ts";
import { startLocalPipeline } from "./local-pipeline.ts";
import { buildRunReport, type RunReport } from "./run-report.ts";
import { loadRunState, type RunState, saveRunState } from "./run-state.ts";

export interface LiveRunOptions {
  file: string;
  token: string;
  /** Tokens from a file (any secret shape) instead of `token`; an OAuth set is kept fresh. */
  tokenFile?: string;
  highLevelBaseUrl: string;
  dataDir: string;
  functionTimeoutSeconds?: number;
  /** Valid jobs in the file, when the caller has counted them already. */
  expectedJobs?: number;
  /** Run the file again though an earlier run in `dataDir` finished it. */
  restart?: boolean;
  signal: AbortSignal;
  /** Told the run's id before anything is sent (a resumed run keeps its id). */
  onRun?: (runId: string) => void;
  onEnqueueProgress?: (sent: number, total: number) => void;
  onDrainProgress?: (
    finished: number,
    total: number,
    report: { deleted: number; deadLettered: number; inFlight: number; delayed: number },
  ) => void;
}

export interface LiveReport extends RunReport {
  runId: string;
  interrupted: boolean;
  resumed: boolean;
  /** An earlier run in the data dir finished this file; nothing was sent or deleted. */
  alreadyFinished?: RunState["finished"];
}

/**
 * Deletes the uploads a file names through the local pipeline against a HighLevel API,
 * keeping the queue in `dataDir` so that an interrupted run resumes where it stopped.
 */
export async function runLive(options: LiveRunOptions): Promise<LiveReport> {
  mkdirSync(options.dataDir, { recursive: true });
  const state = loadRunState(options.dataDir, options.file, options.restart);
  const resumed = state.enqueuedThrough > 0;
  state.runId ??= newRunId("enqueue");
  const runId = state.runId;
  options.onRun?.(runId);
  const pipeline = await startLocalPipeline({
    highLevelBaseUrl: options.highLevelBaseUrl,
    token: options.token,
    ...(options.tokenFile && { tokenFile: { path: options.tokenFile } }),
    dataDir: options.dataDir,
    functionTimeoutSeconds: options.functionTimeoutSeconds ?? LOCAL_LIVE_FUNCTION_TIMEOUT_SECONDS,
  });
  const startedAt = Date.now();
  try {
    const before = await pipeline.depth();
    const pendingAtStart = before.visible + before.inFlight + before.delayed;
    if (state.finished && pendingAtStart === 0) {
      const report = await buildRunReport(pipeline, {
        startedAt,
        enqueued: 0,
        pendingAtStart,
        deadLettersAtStart: before.deadLetters,
      });
      return {
        runId,
        ...report,
        interrupted: false,
        resumed: false,
        alreadyFinished: state.finished,
      };
    }
    pipeline.poller.start();

    let enqueued = 0;
    const { coordination, dynamoDb } = pipeline.runs;
    const runTable =
      coordination && dynamoDb && new RunTable(async () => dynamoDb, coordination.tableName);
    if (!state.enqueueComplete) {
      await saveRunState(options.dataDir, state);
      await runTable?.openRun(runId, { source: "enqueue", label: basename(options.file) });
      const watermark = new Watermark(state.enqueuedThrough);
      const resumeFrom = state.enqueuedThrough;
      const total = options.expectedJobs ?? (await checkJobFile(options.file)).valid;
      let savedAt = 0;
      // One save at a time, in order: a later watermark is never overwritten by an earlier one.
      let saving = Promise.resolve();
      const report = await sendDeletionJobs(
        validJobsFrom(options.file, resumeFrom, { signal: options.signal }),
        {
          queueUrl: pipeline.queues.queueUrl,
          client: pipeline.sqs.client,
          runId,
          // Only the watermark is kept, so a file of millions of jobs needs no more memory.
          keepResults: "failures",
          total,
          onResult: (result) => {
            if (result.status === "sent") watermark.mark(result.index);
          },
          onProgress: ({ sent }) => {
            options.onEnqueueProgress?.(resumeFrom + sent, total);
            // Saved as it goes, so even a killed run resumes near where it stopped.
            if (Date.now() - savedAt > 1_000) {
              const snapshot = { ...state, enqueuedThrough: watermark.value };
              saving = saving.then(() => saveRunState(options.dataDir, snapshot));
              // A failed save is thrown where the sends end (`await saving`), not before.
              saving.catch(() => undefined);
              savedAt = Date.now();
            }
          },
        },
      );
      await saving;
      enqueued = report.sent;
      if (runTable) await closeRun(runTable, runId, report);
      state.enqueuedThrough = watermark.value;
      state.enqueueComplete = !options.signal.aborted && report.failed === 0;
      await saveRunState(options.dataDir, state);
    }

    const drained = await pipeline.waitUntilDrained(options.signal, (depth) => {
      const { tally } = pipeline;
      const waiting = depth.visible + depth.inFlight + depth.delayed;
      options.onDrainProgress?.(tally.finished, tally.finished + waiting, {
        deleted: tally.deleted,
        deadLettered: tally.deadLetteredTotal,
        inFlight: depth.inFlight,
        delayed: depth.delayed,
      });
    });
    await pipeline.poller.stop();
    const report = await buildRunReport(pipeline, {
      startedAt,
      enqueued,
      pendingAtStart,
      deadLettersAtStart: before.deadLetters,
    });
    const sofar = state.totals ?? { deleted: 0, alreadyAbsent: 0, deadLettered: 0 };
    state.totals = {
      deleted: sofar.deleted + report.deleted,
      alreadyAbsent: sofar.alreadyAbsent + report.alreadyAbsent,
      deadLettered: sofar.deadLettered + report.deadLettered,
    };
    if (drained && state.enqueueComplete) {
      state.finished = { at: new Date().toISOString(), ...state.totals };
    }
    await saveRunState(options.dataDir, state);
    return { runId, ...report, interrupted: !drained, resumed };
  } finally {
    await pipeline.stop();
  }
}
