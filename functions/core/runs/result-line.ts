import { clip } from "../detail.ts";
import { csvRow } from "../text/csv-writer.ts";
import type { FailureReason } from "../worker/outcome.ts";
import type { FinalOutcome } from "./run-record.ts";

/** One settled job, as a line of a run's results (JSON Lines) and a row of its report. */
export interface ResultLine {
  runId: string;
  locationId: string;
  csvId: string;
  outcome: FinalOutcome;
  reason?: FailureReason;
  /** HighLevel's last HTTP status for the job, when it answered. */
  status?: number;
  /** Why, for a dead letter: HighLevel's message (tokens redacted, at most 1 KiB). */
  detail?: string;
  /** Calls made to HighLevel for the job in the invocation that settled it. */
  attempts: number;
  finishedAt: string;
  messageId: string;
}

/** The report's columns, in order (CSV header and JSONL keys). */
export const REPORT_COLUMNS = [
  "runId",
  "locationId",
  "csvId",
  "outcome",
  "reason",
  "status",
  "detail",
  "attempts",
  "finishedAt",
] as const;

/** Where an invocation's result lines for a run go in the report bucket. */
export function resultsPrefix(runId: string): string {
  return `runs/${runId}/results/`;
}

/** Time first, so that listing a run's results returns them in the order they were written. */
export function resultsObjectKey(runId: string, writtenAt: Date, writer: string): string {
  return `${resultsPrefix(runId)}${writtenAt.toISOString().replace(/[-:]/g, "")}-${writer}.jsonl`;
}

export function toJsonLine(line: ResultLine): string {
  return JSON.stringify({
    ...line,
    ...(line.detail !== undefined && { detail: clip(line.detail) }),
  });
}

const OUTCOMES = new Set<string>(["deleted", "already-absent", "dead-lettered"]);

/** Parses one stored line; undefined for a line that is not a result (a torn write, a stray). */
export function parseResultLine(text: string): ResultLine | undefined {
  if (!text.trim()) return undefined;
  try {
    const value = JSON.parse(text) as Partial<ResultLine>;
    if (
      typeof value.runId === "string" &&
      typeof value.locationId === "string" &&
      typeof value.csvId === "string" &&
      typeof value.outcome === "string" &&
      OUTCOMES.has(value.outcome) &&
      typeof value.finishedAt === "string"
    ) {
      return value as ResultLine;
    }
  } catch {
    // not JSON: skipped, and counted by the reader
  }
  return undefined;
}

/**
 * A report row as CSV, in `REPORT_COLUMNS` order, without its line end: through the project's
 * one CSV writer (`csvRow`), so that HighLevel's messages open in a spreadsheet as text, never
 * as a formula, and print no control character.
 */
export function toCsvRow(line: ResultLine): string {
  return csvRow(REPORT_COLUMNS.map((column) => line[column])).slice(0, -1);
}

export function toReportJson(line: ResultLine): string {
  return JSON.stringify(
    Object.fromEntries(
      REPORT_COLUMNS.flatMap((column) =>
        line[column] === undefined ? [] : [[column, line[column]]],
      ),
    ),
  );
}
