import { createReadStream } from "node:fs";
import { extname } from "node:path";
import type { Readable } from "node:stream";
import { parse } from "csv-parse";
import { validateDeletionJob } from "./deletion-job.ts";
import type { IndexedJob } from "./enqueue.ts";

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
): AsyncGenerator<JobRecord> {
  const input: Readable = path === "-" ? process.stdin : createReadStream(path);
  const chosen = format ?? (path === "-" ? undefined : formatFromName(path));
  const peeked = await peekFirstCharacter(input);
  const resolved = chosen ?? (peeked.first === "{" ? "jsonl" : "csv");
  if (resolved === "jsonl") {
    yield* readJsonLines(peeked.stream);
  } else {
    yield* readCsv(peeked.stream);
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
  for await (const chunk of input) {
    pending += chunk.toString();
    let newline = pending.indexOf("\n");
    while (newline >= 0) {
      const record = parseLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      if (record) yield record;
      newline = pending.indexOf("\n");
    }
  }
  const last = parseLine(pending);
  if (last) yield last;
}

async function* readCsv(input: AsyncIterable<string | Buffer>): AsyncGenerator<JobRecord> {
  const parser = parse({
    columns: (header: string[]) => header.map((name) => name.trim()),
    skip_empty_lines: true,
    trim: true,
    relax_column_count: true,
    info: true,
    bom: true,
  });
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (!parser.write(chunk)) await new Promise((resolve) => parser.once("drain", resolve));
      }
      parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();
  let checkedHeader = false;
  for await (const { record, info } of parser as AsyncIterable<{
    record: Record<string, string>;
    info: { lines: number };
  }>) {
    if (!checkedHeader) {
      checkedHeader = true;
      if (!("locationId" in record) || !("csvId" in record)) {
        throw new JobFileError(
          `the CSV header must name the columns locationId and csvId (found: ${Object.keys(record).join(", ")})`,
        );
      }
    }
    const value = Object.fromEntries(Object.entries(record).filter(([, cell]) => cell !== ""));
    yield { line: info.lines, value };
  }
  await feeding;
}

export class JobFileError extends Error {
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
  invalid: Array<{ line: number; error: string }>;
}

/** Reads the whole file once, without keeping it, to count and validate its jobs. */
export async function checkJobFile(file: string, format?: JobFileFormat): Promise<FileCheck> {
  const locations = new Set<string>();
  const check: FileCheck = { valid: 0, locations: 0, invalid: [] };
  for await (const record of readJobRecords(file, format)) {
    if ("error" in record) {
      check.invalid.push({ line: record.line, error: record.error });
      continue;
    }
    const parsed = validateDeletionJob(record.value);
    if (parsed.ok) {
      check.valid += 1;
      locations.add(parsed.job.locationId);
    } else {
      check.invalid.push({ line: record.line, error: parsed.error });
    }
  }
  check.locations = locations.size;
  return check;
}

/** The valid jobs of a file, numbered from 0, starting at `from` (to resume). */
export async function* validJobsFrom(
  file: string,
  from: number,
  signal?: AbortSignal,
  format?: JobFileFormat,
): AsyncGenerator<IndexedJob> {
  let index = 0;
  for await (const record of readJobRecords(file, format)) {
    if (signal?.aborted) return;
    if ("error" in record) continue;
    const parsed = validateDeletionJob(record.value);
    if (!parsed.ok) continue;
    if (index >= from) yield { index, job: parsed.job };
    index += 1;
  }
}
