import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { checkRunId } from "../functions/core/runs/run-id.ts";
import {
  describeDeadLetters,
  type RunProgress,
  type RunRecord,
  runProgress,
} from "../functions/core/runs/run-record.ts";
import { type ReportSummary, summarizeRunReport } from "../functions/core/runs/run-report.ts";
import { printable } from "../functions/core/text/printable.ts";
import { describeAwsError } from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { wholeNumber } from "./flags.ts";
import { interruptOnSigint } from "./interrupt.ts";
import { emit, table } from "./output.ts";
import {
  openRunStores,
  RUN_STORE_OPTIONS,
  type RunStoreFlags,
  type RunStores,
} from "./run-stores.ts";

interface RunsFlags extends RunStoreFlags {
  json?: boolean;
  limit: string;
}

interface ShowFlags extends RunStoreFlags {
  json?: boolean;
  /** Commander's name for `--no-results`: false when given. */
  results?: boolean;
  noResults?: boolean;
  watch?: boolean;
  interval: string;
}

export function registerRunsCommands(program: Command): void {
  const runs = program
    .command("runs")
    .description("Recent bulk runs: counts by outcome, state and ETA (`runs show <runId>` for one)")
    .option("--limit <n>", "how many runs, newest first", "20")
    .option("--json", "print the runs as JSON on stdout");
  for (const [flag, help] of RUN_STORE_OPTIONS) runs.option(flag, help);
  runs
    .addHelpText(
      "after",
      `
Examples:
  $ ghl-csv-purge runs --stack GhlCsvPurge
  $ ghl-csv-purge runs --data-dir .ghl-csv-purge/demo --json
  $ ghl-csv-purge runs show enqueue-20261202T004512Z-3f9a --stack GhlCsvPurge --watch

States: enqueuing (the producer has not written its total), running, finished,
finished with dead letters; event days, jobs without a run id and runs no producer
opened (an event's own runId) stay open.
Exit codes: 0, 1 the table cannot be read, 2 usage.`,
    )
    .action(async (flags: RunsFlags) => {
      const limit = wholeNumber(flags.limit, "--limit");
      await withStores(flags, async (stores) => {
        const records = await read(stores, () => stores.table.listRuns(limit));
        const views = records.map((record) => ({ ...record, ...runProgress(record) }));
        emit(
          Boolean(flags.json),
          { runs: views },
          views.length === 0 ? `no runs recorded in ${stores.where}` : runsTable(views),
        );
      });
    });

  const show = runs
    .command("show")
    .argument("<runId>", "the run (printed by enqueue, purge and npm start)")
    .description("One run: counts by outcome, jobs still queued, in flight or deferred, rate, ETA")
    .option("--watch", "print it again every few seconds until the run finishes (Ctrl-C stops)")
    .option("--interval <seconds>", "with --watch: seconds between readings", "5")
    .option(
      "--no-results",
      "a finished run: skip reading its results for the counts per job (large runs read faster)",
    )
    .option("--json", "print the run as JSON on stdout (one document per reading with --watch)");
  for (const [flag, help] of RUN_STORE_OPTIONS) show.option(flag, help);
  show.action(async (runId: string, own: ShowFlags) => {
    // `runs` takes the same store flags: those given before `show` count too.
    const flags: ShowFlags = {
      ...(runs.opts() as RunStoreFlags),
      ...own,
      noResults: own.results === false,
    };
    checkedRunId(runId);
    const interval = wholeNumber(flags.interval, "--interval");
    await withStores(flags, async (stores) => {
      const interrupt = flags.watch ? interruptOnSigint("stopping the watch") : undefined;
      try {
        for (;;) {
          const record = await read(stores, () => stores.table.getRun(runId));
          if (!record) {
            throw new OperationalError(
              `no run ${runId} in ${stores.where} (\`ghl-csv-purge runs\` lists the recent ones)`,
            );
          }
          const progress = runProgress(record);
          const over = progress.state !== "running" && progress.state !== "enqueuing";
          // Once finished, the counts per job come from its results: a job that settled twice
          // (a duplicate message, a copy finding its upload gone) counts once, as the report.
          const jobs =
            over && !flags.noResults
              ? await read(stores, () => summarizeRunReport(runId, { bucket: stores.bucket }))
              : undefined;
          emit(
            Boolean(flags.json),
            { ...record, ...progress, ...(jobs && { jobs }) },
            runText(record, progress, jobs),
          );
          if (!flags.watch || over || interrupt?.signal.aborted) return;
          const stop = interrupt?.signal;
          await sleep(interval * 1000, undefined, stop && { signal: stop }).catch(() => {});
          if (stop?.aborted) return;
          if (!flags.json) process.stdout.write("\n");
        }
      } finally {
        interrupt?.dispose();
      }
    });
  });
}

export function checkedRunId(runId: string): string {
  try {
    return checkRunId(runId);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export async function withStores<T>(
  flags: RunStoreFlags,
  work: (stores: RunStores) => Promise<T>,
): Promise<T> {
  const stores = await openRunStores(flags);
  try {
    return await work(stores);
  } finally {
    await stores.close();
  }
}

async function read<T>(stores: RunStores, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (error) {
    throw new OperationalError(
      `could not read the runs in ${stores.where}: ${describeAwsError(error)}`,
    );
  }
}

function runsTable(views: Array<RunRecord & RunProgress>): string {
  return table([
    [
      "run",
      "label",
      "source",
      "created (UTC)",
      "total",
      "done",
      "deleted",
      "absent",
      "dead",
      "state",
      "ETA",
    ],
    ...views.map((view) => [
      view.runId,
      view.label ?? "",
      String(view.source),
      utc(view.createdAt),
      view.total ?? "",
      view.done,
      view.counts.deleted,
      view.counts.alreadyAbsent,
      view.counts.deadLettered,
      view.state,
      eta(view),
    ]),
  ]);
}

function runText(record: RunRecord, progress: RunProgress, jobs?: ReportSummary): string {
  const { counts } = record;
  const reasons = describeDeadLetters(counts);
  const perJob: Array<[string, string]> = jobs
    ? [
        [
          "jobs",
          `${jobs.jobs} (from ${jobs.lines} result line(s): each job once, its latest outcome)`,
        ],
        ["  deleted", String(jobs.counts.deleted)],
        ["  already absent", String(jobs.counts.alreadyAbsent)],
        [
          "  dead-lettered",
          `${jobs.counts.deadLettered}${describeDeadLetters({ ...counts, ...jobs.counts }) ? ` (${describeDeadLetters({ ...counts, ...jobs.counts })})` : ""}`,
        ],
      ]
    : [];
  const rows: Array<[string, string]> = [
    ["run", `${record.runId}${record.label ? ` (${record.label})` : ""}`],
    ["source", `${record.source}, created ${utc(record.createdAt)} UTC`],
    ["state", progress.state],
    [
      "total",
      record.total === undefined ? "not known yet (still enqueuing)" : String(record.total),
    ],
    ...perJob,
    ["done", `${progress.done}${jobs ? " settled message(s)" : ""}`],
    ["  deleted", String(counts.deleted)],
    ["  already absent", String(counts.alreadyAbsent)],
    ["  dead-lettered", `${counts.deadLettered}${reasons ? ` (${reasons})` : ""}`],
    ...(counts.duplicates
      ? [["  duplicate copies", String(counts.duplicates)] as [string, string]]
      : []),
    [
      "remaining",
      progress.remaining === undefined
        ? "unknown"
        : `${progress.remaining} queued, in flight or deferred`,
    ],
    ["rate", progress.perSecond ? `${progress.perSecond} jobs/s` : "—"],
    ["ETA", eta(progress) || "—"],
    ...(counts.resultsMissing
      ? [
          [
            "results missing",
            `${counts.resultsMissing} job(s) settled without a result line (see the worker's warnings)`,
          ] as [string, string],
        ]
      : []),
    [
      "report",
      `ghl-csv-purge report ${record.runId}${progress.state.startsWith("finished") ? "" : " (so far)"}`,
    ],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return rows.map(([name, value]) => `${name.padEnd(width)}  ${printable(value)}`).join("\n");
}

function utc(iso: string): string {
  return iso ? iso.replace("T", " ").replace(/\.\d{3}Z$|Z$/, "") : "";
}

function eta(progress: RunProgress): string {
  if (progress.etaSeconds === undefined) return progress.state === "running" ? "?" : "";
  const s = progress.etaSeconds;
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  return `${(s / 3600).toFixed(1)}h`;
}
