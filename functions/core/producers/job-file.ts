import { closeSync, createReadStream, openSync, readSync, statSync } from "node:fs";
import { extname } from "node:path";
import type { Readable } from "node:stream";
import { InputFileError, readCsvRecords } from "../text/csv-reader.ts";
import type { IndexedJob } from "./deletion-job.ts";
import { validateDeletionJob } from "./deletion-job.ts";

/** One record of a jobs file: what it holds, or why it could not be read. */
export type JobRecord =
  | { line: number; value: Record<string, unknown> }
  | { line: number; error: string };

export type JobFileFormat = "csv" | "jsonl";

/** Picks the format from the file name, else from the first character of the content. */
export function formatFromName(path: string): JobFileFormat | undefined {
  const extension = extname(path).toLowerCase();
  if (extension === ".csv") return "csv";
  if (extension === ".jsonl" || extension === ".ndjson" || extension === ".json") return "jsonl";
  return undefined;
}

/**
 * Streams the jobs of a CSV (header row naming `locationId,csvId` and any optional columns) or
 * JSONL file, one record at a time, so that a file of millions of lines is never held whole.
 * `path` "-" reads standard input.
 */
export async function* readJobRecords(
  path: string,
  format?: JobFileFormat,
  options: JobFileOptions = {},
): AsyncGenerator<JobRecord> {
  if (path !== "-") assertReadableTextFile(path);
  const input: Readable = path === "-" ? process.stdin : createReadStream(path);
  const chosen = format ?? (path === "-" ? undefined : formatFromName(path));
  const peeked = await peekFirstCharacter(input);
  const resolved = chosen ?? (peeked.first === "{" ? "jsonl" : "csv");
  if (resolved === "jsonl") {
    yield* readJsonLines(peeked.stream);
  } else {
    yield* readCsv(peeked.stream, options.delimiter ?? ",", path === "-" ? "standard input" : path);
  }
}

export interface JobFileOptions {
  /** The CSV's field separator; default ",". */
  delimiter?: string;
}

/**
 * Refuses what cannot be a jobs file before reading it: a missing path, a directory, a binary
 * file (a NUL byte in its first 8 KiB) or UTF-16 text. Each error names the file and the fix.
 */
export function assertReadableTextFile(path: string): void {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch {
    throw new JobFileError(`${path}: no such file`);
  }
  if (stats.isDirectory()) throw new JobFileError(`${path} is a directory, not a jobs file`);
  const head = Buffer.alloc(8192);
  const descriptor = openSync(path, "r");
  let read: number;
  try {
    read = readSync(descriptor, head, 0, head.length, 0);
  } catch (error) {
    throw new JobFileError(`${path}: cannot be read (${(error as Error).message})`);
  } finally {
    closeSync(descriptor);
  }
  const start = head.subarray(0, read);
  if ((start[0] === 0xff && start[1] === 0xfe) || (start[0] === 0xfe && start[1] === 0xff)) {
    throw new JobFileError(`${path} is UTF-16 text: save it as UTF-8 (CSV UTF-8 in Excel)`);
  }
  if (start.includes(0)) {
    throw new JobFileError(`${path} looks binary (it holds NUL bytes): give a CSV or JSONL file`);
  }
}

async function* readJsonLines(input: AsyncIterable<string | Buffer>): AsyncGenerator<JobRecord> {
  let line = 0;
  let pending = "";
  const parseLine = (text: string): JobRecord | undefined => {
    line += 1;
    const trimmed = text.trim();
    if (!trimmed) return undefined;
    try {
      const value = JSON.parse(trimmed) as unknown;
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        return { line, error: "not a JSON object" };
      }
      return { line, value: value as Record<string, unknown> };
    } catch {
      return { line, error: "not valid JSON" };
    }
  };
  // One decoder for the whole stream: a character split across two chunks stays whole.
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of input) {
    pending += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      const record = parseLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      if (record) yield record;
      newline = pending.indexOf("\n");
    }
  }
  pending += decoder.decode();
  const last = parseLine(pending);
  if (last) yield last;
}

/** Header names matched case-insensitively: `LocationID`, ` csvid ` are the columns we need. */
const REQUIRED_COLUMNS: Record<string, string> = { locationid: "locationId", csvid: "csvId" };

async function* readCsv(
  input: AsyncIterable<string | Buffer>,
  delimiter: string,
  name: string,
): AsyncGenerator<JobRecord> {
  try {
    for await (const { line, record } of readCsvRecords(input, {
      name,
      delimiter,
      canonical: REQUIRED_COLUMNS,
      required: ["locationId", "csvId"],
    })) {
      const value = Object.fromEntries(Object.entries(record).filter(([, cell]) => cell !== ""));
      yield { line, value };
    }
  } catch (error) {
    throw error instanceof InputFileError ? new JobFileError(error.message) : error;
  }
}

/** A file that cannot be a jobs file (exit 2): it names the file and what is wrong. */
export class JobFileError extends InputFileError {
  override name = "JobFileError";
}

/** Reads the first chunk to sniff the format, then hands back a stream that still has it. */
async function peekFirstCharacter(
  input: Readable,
): Promise<{ first: string | undefined; stream: AsyncIterable<string | Buffer> }> {
  const iterator = input[Symbol.asyncIterator]();
  const head = await iterator.next();
  const firstChunk = head.done ? undefined : (head.value as Buffer | string);
  const first = firstChunk
    ?.toString()
    .replace(/^\uFEFF/, "")
    .trimStart()[0];
  async function* rest() {
    if (firstChunk !== undefined) yield firstChunk;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value as Buffer | string;
    }
  }
  return { first, stream: rest() };
}

export interface FileCheck {
  valid: number;
  locations: number;
  /** The invalid lines, in file order: the first `MAX_LISTED_INVALID` of them. */
  invalid: Array<{ line: number; error: string }>;
  invalidCount: number;
}

/** Reads the whole file once, without keeping it, to count and validate its jobs. */
export async function checkJobFile(
  file: string,
  format?: JobFileFormat,
  options: JobFileOptions = {},
): Promise<FileCheck> {
  const locations = new Set<string>();
  const check: FileCheck = { valid: 0, locations: 0, invalid: [], invalidCount: 0 };
  const invalid = (line: number, error: string) => {
    check.invalidCount += 1;
    // Listed up to a bound, so that a file of garbage keeps memory flat; all are counted.
    if (check.invalid.length < MAX_LISTED_INVALID) check.invalid.push({ line, error });
  };
  for await (const record of readJobRecords(file, format, options)) {
    if ("error" in record) {
      invalid(record.line, record.error);
      continue;
    }
    const parsed = validateDeletionJob(record.value);
    if (parsed.ok) {
      check.valid += 1;
      locations.add(parsed.job.locationId);
    } else {
      invalid(record.line, parsed.error);
    }
  }
  check.locations = locations.size;
  return check;
}

/** Invalid lines listed by `checkJobFile` (all are counted). */
export const MAX_LISTED_INVALID = 100_000;

/**
 * The valid jobs of a file, numbered from 0, with their line numbers: those from the `from`-th
 * valid job (a resumed run) and from line `fromLine` on (`enqueue --from-line`).
 */
export async function* validJobsFrom(
  file: string,
  from: number,
  options: JobFileOptions & {
    signal?: AbortSignal;
    format?: JobFileFormat;
    fromLine?: number;
  } = {},
): AsyncGenerator<IndexedJob> {
  const { signal, format, fromLine = 1 } = options;
  let index = 0;
  for await (const record of readJobRecords(file, format, options)) {
    if (signal?.aborted) return;
    if ("error" in record) continue;
    const parsed = validateDeletionJob(record.value);
    if (!parsed.ok) continue;
    if (index >= from && record.line >= fromLine) {
      yield { index, job: parsed.job, line: record.line };
    }
    index += 1;
  }
}
