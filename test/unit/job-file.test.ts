import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  checkJobFile,
  JobFileError,
  readJobRecords,
  validJobsFrom,
} from "../../functions/core/producers/job-file.ts";

const dirs: string[] = [];
function file(name: string, content: string): string {
  const dir = mkdtempSync(join(tmpdir(), "job-file-"));
  dirs.push(dir);
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

describe("job files", () => {
  it("reads multi-byte characters whole where they straddle every 64 KiB read", async () => {
    // Lines padded so that an "é" (2 bytes) or a "🧹" (4 bytes) falls across each chunk boundary.
    const chunk = 64 * 1024;
    const lines: string[] = [];
    let bytes = 0;
    for (let n = 0; bytes < 6 * chunk; n++) {
      const head = `{"locationId":"loc${n}","csvId":"csv${n}","reason":"`;
      const nextBoundary = (Math.floor(bytes / chunk) + 1) * chunk;
      const pad = Math.max(0, nextBoundary - bytes - Buffer.byteLength(head) - 1 - (n % 3));
      const reason = `${"x".repeat(pad)}café 🧹 naïve`;
      const line = `${head}${reason}","requestedBy":"Zoë"}`;
      lines.push(line);
      bytes += Buffer.byteLength(line) + 1;
    }
    const records = await collect(readJobRecords(file("jobs.jsonl", `${lines.join("\n")}\n`)));
    expect(records).toHaveLength(lines.length);
    for (const [n, record] of records.entries()) {
      expect(record).toEqual({ line: n + 1, value: JSON.parse(lines[n] as string) });
    }
  });

  it("refuses a header that names a column twice, and names the line of a broken quote", async () => {
    const twice = file("twice.csv", "locationId,csvId,locationid\nl1,c1,l2\n");
    await expect(collect(readJobRecords(twice))).rejects.toThrow(
      /names one column twice \("locationId" and "locationid"\)/,
    );
    const broken = file("broken.csv", 'locationId,csvId\nl1,c1\nl2,"c2\n');
    await expect(collect(readJobRecords(broken))).rejects.toThrow(JobFileError);
    await expect(collect(readJobRecords(broken))).rejects.toThrow(
      new RegExp(`${broken.replaceAll("/", "\\/")} line 3, column "csvId": Quote Not Closed`),
    );
  });

  it("reads CSV with a BOM, quoted commas and extra columns, by header name", async () => {
    const path = file(
      "jobs.csv",
      '\uFEFFcsvId,locationId,reason\r\nc1,l1,"old, unused"\r\n\r\nc2,l2,\r\n',
    );
    expect(await collect(readJobRecords(path))).toEqual([
      { line: 2, value: { csvId: "c1", locationId: "l1", reason: "old, unused" } },
      { line: 4, value: { csvId: "c2", locationId: "l2" } },
    ]);
  });

  it("reads JSONL, naming the lines that are not objects", async () => {
    const path = file("jobs.jsonl", '{"locationId":"l1","csvId":"c1"}\n\n[1]\n{broken\n');
    expect(await collect(readJobRecords(path))).toEqual([
      { line: 1, value: { locationId: "l1", csvId: "c1" } },
      { line: 3, error: "not a JSON object" },
      { line: 4, error: "not valid JSON" },
    ]);
  });

  it("tells JSONL from CSV by content when the name does not say", async () => {
    const path = file("jobs.txt", '{"locationId":"l1","csvId":"c1"}\n');
    expect(await collect(readJobRecords(path))).toHaveLength(1);
  });

  it("refuses a CSV whose header lacks locationId or csvId", async () => {
    const path = file("jobs.csv", "location,csv\nl1,c1\n");
    await expect(collect(readJobRecords(path))).rejects.toThrow(JobFileError);
  });

  it("counts valid jobs and locations, and resumes the valid ones from an index", async () => {
    const path = file("jobs.csv", "locationId,csvId\nl1,c1\nl1,bad/id\nl2,c2\nl3,c3\n");
    expect(await checkJobFile(path)).toEqual({
      valid: 3,
      locations: 3,
      invalid: [{ line: 3, error: "csvId: may contain only letters, digits, '_' and '-'" }],
      invalidCount: 1,
    });
    const resumed = await collect(validJobsFrom(path, 1));
    expect(resumed).toEqual([
      { index: 1, job: { locationId: "l2", csvId: "c2" }, line: 4 },
      { index: 2, job: { locationId: "l3", csvId: "c3" }, line: 5 },
    ]);
    const fromLine = await collect(validJobsFrom(path, 0, { fromLine: 5 }));
    expect(fromLine).toEqual([{ index: 2, job: { locationId: "l3", csvId: "c3" }, line: 5 }]);
  });

  it("matches the header case-insensitively and trims it; another separator only when named", async () => {
    const loose = file("loose.csv", " LocationID , CSVID \nl1,c1\n");
    expect(await collect(readJobRecords(loose))).toEqual([
      { line: 2, value: { locationId: "l1", csvId: "c1" } },
    ]);
    const semicolons = file("semi.csv", "locationId;csvId\nl1;c1\n");
    await expect(collect(readJobRecords(semicolons))).rejects.toThrow(
      'the CSV header is separated by ";": pass --delimiter ";"',
    );
    expect(await collect(readJobRecords(semicolons, "csv", { delimiter: ";" }))).toEqual([
      { line: 2, value: { locationId: "l1", csvId: "c1" } },
    ]);
  });

  it.each([
    ["a missing file", (dir: string) => join(dir, "nope.csv"), "no such file"],
    ["a directory", (dir: string) => dir, "is a directory"],
    [
      "a binary file",
      (dir: string) => {
        writeFileSync(join(dir, "b.csv"), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 1, 2]));
        return join(dir, "b.csv");
      },
      "looks binary",
    ],
    [
      "UTF-16 text",
      (dir: string) => {
        writeFileSync(
          join(dir, "u.csv"),
          Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("locationId,csvId\n", "utf16le")]),
        );
        return join(dir, "u.csv");
      },
      "save it as UTF-8",
    ],
  ])("refuses %s before reading, naming it", async (_, make, message) => {
    const dir = mkdtempSync(join(tmpdir(), "job-file-"));
    dirs.push(dir);
    const path = make(dir);
    await expect(collect(readJobRecords(path))).rejects.toThrow(JobFileError);
    await expect(collect(readJobRecords(path))).rejects.toThrow(message);
  });
});
