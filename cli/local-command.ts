import { existsSync } from "node:fs";
import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import { checkJobFile } from "../functions/core/producers/job-file.ts";
import type { RunReport } from "../local/run-report.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { wholeNumber } from "./flags.ts";
import { interruptOnSigint } from "./interrupt.ts";
import { emit, progressView, table } from "./output.ts";

/** Where `npm start` keeps its run (emptied each time), for `runs` and `report` afterwards. */
const DEMO_DATA_DIR = ".ghl-csv-purge/demo";

interface LocalFlags {
  live?: boolean;
  file?: string;
  yes?: boolean;
  dataDir?: string;
  baseUrl: string;
  json?: boolean;
  perLocation: string;
  functionTimeout?: string;
  restart?: boolean;
  tokenFile?: string;
}

export function registerLocalCommand(program: Command): void {
  program
    .command("local")
    .description(
      "Run the whole pipeline on this machine: embedded SQS, the real worker driven like Lambda's SQS event source, and the sandbox HighLevel API (or the real one with --live)",
    )
    .option(
      "--live",
      "delete for real against HighLevel's API (token from HIGHLEVEL_TOKEN or --token-file)",
    )
    .option(
      "--token-file <path>",
      "with --live: tokens in any secret shape (a PIT, a map, an OAuth set from `auth connect --token-file`)",
    )
    .option(
      "-f, --file <path>",
      "jobs to run with --live: CSV with a locationId,csvId header, or JSONL",
    )
    .option("-y, --yes", "do not ask for confirmation before deleting")
    .option(
      "--data-dir <dir>",
      "keep the embedded queue, run records and results on disk (--live: to resume, default .ghl-csv-purge; the demo: emptied first, default .ghl-csv-purge/demo)",
    )
    .option(
      "--base-url <url>",
      "HighLevel API origin for --live",
      "https://services.leadconnectorhq.com",
    )
    .option("--restart", "with --live: run the file again though an earlier run finished it")
    .option("--per-location <n>", "demo uploads per location (4 locations)", "40")
    .option(
      "--function-timeout <seconds>",
      "local function timeout (default: 60 for the demo, 15 for --live; the queue's visibility timeout is 2× this + the batching window)",
    )
    .option("--json", "print a machine-readable summary on stdout")
    .addHelpText(
      "after",
      `
Examples:
  $ npm start                                        # the demo: sandbox API, faults, rate limits
  $ ghl-csv-purge local --json                       # the demo, summary as JSON
  $ HIGHLEVEL_TOKEN=pit-… ghl-csv-purge local --live --file uploads.csv
  $ HIGHLEVEL_TOKEN=pit-… ghl-csv-purge local --live --file uploads.jsonl --yes --data-dir ./purge-run

Ctrl-C stops taking new batches, lets in-flight ones finish, and prints how to resume.`,
    )
    .action(async (flags: LocalFlags) => {
      const json = Boolean(flags.json);
      const interrupt = interruptOnSigint("no new batches; waiting for those in flight");
      try {
        if (flags.live) {
          await live(flags, json, interrupt.signal);
        } else {
          if (flags.file)
            throw new UsageError("--file is for --live runs; the demo makes its own jobs");
          await demo(flags, json, interrupt.signal);
        }
      } finally {
        interrupt.dispose();
      }
    });
}

async function demo(flags: LocalFlags, json: boolean, signal: AbortSignal): Promise<void> {
  const perLocation = wholeNumber(flags.perLocation, "--per-location");
  const functionTimeoutSeconds = flags.functionTimeout
    ? wholeNumber(flags.functionTimeout, "--function-timeout")
    : undefined;
  if (!json) {
    process.stderr.write(
      "ghl-csv-purge demo: embedded SQS + sandbox HighLevel API on 127.0.0.1 (4 locations, burst limit 20 calls / 2 s each, faults injected)\n",
    );
  }
  const view = progressView("deleting", { json });
  const { runDemo } = await loadLocal(() => import("../local/demo.ts"));
  const dataDir = flags.dataDir ?? DEMO_DATA_DIR;
  const report = await runDemo({
    perLocation,
    dataDir,
    ...(functionTimeoutSeconds && { functionTimeoutSeconds }),
    signal,
    onProgress: (p) =>
      view.update(p.finished, p.total, {
        deleted: p.deleted,
        absent: p.alreadyAbsent,
        "dead-lettered": p.deadLettered,
        deferred: p.deferred,
        redelivered: p.redelivered,
        "paced waits": p.pacedWaits,
        "429s": p.throttled429,
        "del/s": (p.deleted / Math.max(1, p.elapsedMs / 1000)).toFixed(1),
      }),
  });
  view.stop();
  emit(
    json,
    report,
    [
      summaryText(report),
      `paced waits:      ${report.pacedWaits} (calls held for their slot in the location's rate budget)`,
      `HighLevel 429s:   ${report.throttled429}`,
      `sandbox agrees:   ${report.sandboxAgrees ? "yes" : "NO"}`,
      "",
      `run:              ${report.runId} (${report.run?.state ?? "no record"})`,
      `its report:       npm run cli -- report ${report.runId} --data-dir ${dataDir}`,
      `                  (npm run cli -- runs show ${report.runId} --data-dir ${dataDir})`,
    ].join("\n"),
  );
  if (report.interrupted) {
    throw new OperationalError(
      "interrupted: the demo's in-memory queue is gone; run npm start again",
    );
  }
  if (!report.reconciled) throw new OperationalError(`the run did not reconcile: ${gap(report)}`);
  if (!report.sandboxAgrees) {
    throw new OperationalError(
      `the run did not reconcile: the sandbox still holds ${report.uploadsLeft} upload(s) its jobs should have deleted (see the dead letters above)`,
    );
  }
}

async function live(flags: LocalFlags, json: boolean, signal: AbortSignal): Promise<void> {
  const token = process.env.HIGHLEVEL_TOKEN?.trim() ?? "";
  if (!token && !flags.tokenFile) {
    throw new UsageError("--live needs a HighLevel token in HIGHLEVEL_TOKEN, or --token-file");
  }
  if (flags.tokenFile && !existsSync(flags.tokenFile)) {
    throw new UsageError(`--token-file ${flags.tokenFile}: no such file`);
  }
  if (!flags.file) throw new UsageError("--live needs --file <jobs.csv|jobs.jsonl>");
  if (!existsSync(flags.file)) throw new UsageError(`--file ${flags.file}: no such file`);
  const dataDir = flags.dataDir ?? ".ghl-csv-purge";
  const check = await checkJobFile(flags.file);
  if (check.invalid.length > 0) {
    const first = check.invalid
      .slice(0, 3)
      .map((problem) => `line ${problem.line}: ${problem.error}`)
      .join("; ");
    throw new OperationalError(
      `${flags.file} has ${check.invalid.length} invalid job(s), nothing was sent (${first})`,
    );
  }
  if (!flags.yes) {
    if (!process.stdin.isTTY) {
      throw new UsageError(
        "refusing to delete without confirmation: pass --yes in non-interactive runs",
      );
    }
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await prompt.question(
      `Delete ${check.valid} CSV upload(s) in ${check.locations} location(s) from ${flags.baseUrl}? [y/N] `,
    );
    prompt.close();
    if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError("not confirmed; nothing was sent");
  }
  const enqueueView = progressView("enqueueing", { json });
  if (!json)
    process.stderr.write(`data dir ${dataDir}: the queue, the run's record and its results\n`);
  const drainView = progressView("deleting", { json });
  const { runLive } = await loadLocal(() => import("../local/live-run.ts"));
  const report = await runLive({
    file: flags.file,
    token,
    ...(flags.tokenFile && { tokenFile: flags.tokenFile }),
    highLevelBaseUrl: flags.baseUrl,
    dataDir,
    expectedJobs: check.valid,
    ...(flags.restart && { restart: true }),
    ...(flags.functionTimeout && {
      functionTimeoutSeconds: wholeNumber(flags.functionTimeout, "--function-timeout"),
    }),
    signal,
    onRun: (runId) => {
      if (!json) process.stderr.write(`run ${runId}\n`);
    },
    onEnqueueProgress: (sent, total) => enqueueView.update(sent, total, {}),
    onDrainProgress: (finished, total, counts) => {
      enqueueView.stop();
      drainView.update(finished, total, {
        deleted: counts.deleted,
        "dead-lettered": counts.deadLettered,
        // What the run waits for when nothing moves: jobs held by a batch, or deferred.
        "in flight": counts.inFlight,
        "delayed (deferred)": counts.delayed,
      });
    },
  });
  enqueueView.stop();
  drainView.stop();
  if (report.alreadyFinished) {
    const done = report.alreadyFinished;
    emit(
      json,
      report,
      `${flags.file} was finished by an earlier run in ${dataDir} at ${done.at} (deleted ${done.deleted}, already absent ${done.alreadyAbsent}, dead-lettered ${done.deadLettered}); nothing to do. Pass --restart to run it again.`,
    );
    return;
  }
  emit(
    json,
    report,
    `${summaryText(report)}\n\nrun:              ${report.runId}\nits report:       ghl-csv-purge report ${report.runId} --data-dir ${dataDir}`,
  );
  if (report.interrupted) {
    throw new OperationalError(
      `stopped with ${report.remaining} job(s) still queued in ${dataDir}; run the same command again to resume`,
    );
  }
  if (!report.reconciled) throw new OperationalError(`the run did not reconcile: ${gap(report)}`);
}

/** The sum that did not add up, in one line. */
function gap(report: RunReport): string {
  const accounted =
    report.deleted +
    report.alreadyAbsent +
    report.deadLettered +
    report.duplicatesRemoved +
    report.remaining;
  return `${report.jobsIn} job(s) in, ${accounted} accounted for (deleted ${report.deleted} + already absent ${report.alreadyAbsent} + dead-lettered ${report.deadLettered} + copies removed ${report.duplicatesRemoved} + still queued ${report.remaining})`;
}

function summaryText(report: RunReport): string {
  const rows: Array<Array<string | number>> = [
    ["outcome", "jobs"],
    ["deleted", report.deleted],
    ["already absent", report.alreadyAbsent],
    ["dead-lettered", report.deadLettered],
    ...(report.duplicatesRemoved > 0
      ? [["duplicate copies removed", report.duplicatesRemoved] as Array<string | number>]
      : []),
    ["still queued", report.remaining],
    ["total", report.jobsIn],
  ];
  const reasons: Array<Array<string | number>> = [
    ["dead letters by reason", "count"],
    ...Object.entries(report.deadLetters.byReason).map(([reason, count]) => [reason, count]),
  ];
  const samples = report.deadLetters.samples
    .map(
      (s) =>
        `  ${s.reason}${s.status ? ` ${s.status}` : ""}: ${s.detail ?? "(no detail)"} — ${s.body.slice(0, 100)}`,
    )
    .join("\n");
  return [
    "",
    table(rows),
    "",
    table(reasons),
    ...(report.deadLetterRepeats > 0
      ? [
          `(${report.deadLetterRepeats} of them a second dead letter of one delivery: counted once above)`,
        ]
      : []),
    samples ? `\nsamples:\n${samples}` : "",
    "",
    `HighLevel calls:  ${report.highLevelCalls}`,
    `deferrals:        ${report.deferrals} (rate budget waits that outlived an invocation)`,
    `redeliveries:     ${report.redeliveries}`,
    `time:             ${(report.durationMs / 1000).toFixed(1)} s, ${report.deletionsPerSecond.toFixed(1)} deletions/s`,
    `reconciled:       ${report.reconciled ? "yes — every job is deleted, already absent, or a dead letter" : "NO"}`,
  ].join("\n");
}

/**
 * The local runner loads the embedded SQS (fauxqs) and DynamoDB (dynalite) only when `local`
 * runs (a CLI or library user who never runs `local` does not load them); if an install left
 * them out, say how to get them.
 */
async function loadLocal<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ERR_MODULE_NOT_FOUND" && /fauxqs|dynalite/.test(String(error))) {
      throw new OperationalError(
        "`local` needs the embedded SQS and DynamoDB (fauxqs, dynalite), which are missing: npm i fauxqs dynalite",
      );
    }
    throw error;
  }
}
