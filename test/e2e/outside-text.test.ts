import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { afterAll, describe, expect, it } from "vitest";
import { recordRun } from "../helpers/recorded-run.ts";
import { runCli } from "../helpers/run-cli.ts";

const TOKEN = "outside-text-token-7c2a";
const RUN = "outside-text-run";
/** What HighLevel (or whatever answers in its place) might say, each as a rejection's message. */
const HOSTILE = [
  '=HYPERLINK("http://x","y")',
  "+cmd|' /C calc'!A0",
  "-2+3",
  "@SUM(1,2)",
  "\tTAB=1+1",
  "\rCR=1+1",
  "\u001b[2Jcleared \u001b]0;title\u0007 \u009b31mred\u001b[0m\r\nforged line \u007f",
];
const ESC = "\u001b";

const dir = mkdtempSync(join(tmpdir(), "ghl-outside-text-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Outside text in human output: no control character reaches the terminal raw. */
function expectNoRawControls(bytes: string) {
  for (const raw of [ESC, "\u0007", "\u009b", "\r", "\u007f"]) expect(bytes).not.toContain(raw);
}

describe("text from outside, wherever a person opens it", () => {
  it("neutralises formulas in the report's CSV, keeps JSONL exact, and escapes control characters in dlq inspect, runs show and report", async () => {
    const dataDir = join(dir, "data");
    await recordRun({
      token: TOKEN,
      runId: RUN,
      runLabel: `label \u001b[31mred\u001b[0m`,
      dataDir,
      jobs: (sandbox) =>
        HOSTILE.map((message) => {
          const csvId = sandbox.addUpload("textLoc")._id;
          sandbox.script("textLoc", csvId, [{ status: 400, body: { statusCode: 400, message } }]);
          return { locationId: "textLoc", csvId };
        }),
      drained: async (pipeline) => {
        const inspect = await runCli([
          "dlq",
          "inspect",
          "--dlq-url",
          pipeline.queues.deadLetterQueueUrl,
          "--endpoint-url",
          pipeline.sqs.endpoint,
          "--region",
          "us-east-1",
          "--samples",
          "10",
        ]);
        expect(inspect.code).toBe(0);
        expect(inspect.stdout).toContain(`${HOSTILE.length} dead letter(s)`);
        expectNoRawControls(inspect.stdout);
        // SQS attributes cannot carry ESC or BEL (the dead letter holds "?" there, trimmed); C1,
        // CR, LF and DEL they can, and those print escaped.
        expect(inspect.stdout).toContain("\\x9b31mred");
        expect(inspect.stdout).toContain("\\r\\nforged line \\x7f");
      },
    });
    const stores = ["--data-dir", dataDir];

    const csv = await runCli(["report", RUN, ...stores]);
    expect(csv.code).toBe(0);
    expectNoRawControls(csv.stdout);
    const rows = parse(csv.stdout, { columns: true }) as Array<Record<string, string>>;
    expect(rows).toHaveLength(HOSTILE.length);
    for (const row of rows) {
      expect(row.outcome).toBe("dead-lettered");
      // No spreadsheet evaluates a cell that starts with none of = + - @ tab CR.
      expect(row.detail).not.toMatch(/^[=+\-@\t\r]/);
    }
    const details = rows.map((row) => row.detail);
    expect(details).toContain(`'${HOSTILE[0]}`);
    expect(details).toContain("\\tTAB=1+1");

    const out = join(dir, "run.csv");
    expect((await runCli(["report", RUN, ...stores, "--out", out])).code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(csv.stdout);

    const jsonl = await runCli(["report", RUN, ...stores, "--format", "jsonl"]);
    expect(jsonl.code).toBe(0);
    const exact = jsonl.stdout
      .trim()
      .split("\n")
      .map((line) => (JSON.parse(line) as { detail: string }).detail);
    expect(exact.sort()).toEqual([...HOSTILE].sort());

    const show = await runCli(["runs", "show", RUN, ...stores]);
    expect(show.code).toBe(0);
    expectNoRawControls(show.stdout);
    expect(show.stdout).toContain("label \\x1b[31mred\\x1b[0m");
  });
});
