import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/run-cli.ts";

/** CloudWatch Logs bills by the byte: the worker's logs must cost less than the work (issue #15). */
function logRun(level: string) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "test/helpers/log-volume-process.ts"), "1000", "20"],
    { cwd: ROOT, env: { ...process.env, POWERTOOLS_LOG_LEVEL: level, POWERTOOLS_DEV: "" } },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  return new Promise<{
    lines: string[];
    bytes: number;
    counts: { deleted: number; deadLettered: number; batches: number };
  }>((resolve, reject) =>
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`exit ${code}: ${stderr.slice(-500)}`));
      const errLines = stderr.trim().split("\n");
      const counts = JSON.parse(errLines.pop() ?? "{}");
      const lines = [...stdout.trim().split("\n"), ...errLines].filter(Boolean);
      resolve({
        lines,
        bytes: lines.reduce((sum, line) => sum + Buffer.byteLength(line) + 1, 0),
        counts,
      });
    }),
  );
}

describe("log volume at the default level", () => {
  it("1,000 jobs write one line per batch plus one per failing job, and under 200 bytes per deletion", async () => {
    const { lines, bytes, counts } = await logRun("INFO");
    expect(counts).toMatchObject({ deleted: 980, deadLettered: 20 });
    const logLines = lines.filter((line) => !line.includes('"_aws"'));
    const metricLines = lines.length - logLines.length;
    expect(logLines.length).toBeLessThanOrEqual(Math.ceil(1.2 * counts.batches) + 20);
    const warnings = logLines.filter((line) => line.includes('"level":"WARN"'));
    expect(warnings.filter((line) => line.includes('"message":"job dead-lettered"'))).toHaveLength(
      20,
    );
    // A busy machine may time out a few calls (a transient failure has its own line), never
    // one per job: a loaded clean-clone run saw 22 warnings where an idle one sees 20.
    expect(warnings.length).toBeLessThanOrEqual(30);
    // One metrics line per invocation, plus one per dead-letter reason and batch.
    expect(metricLines).toBeLessThanOrEqual(counts.batches + 20);
    // $0.50 per GB ingested: 200 B per deletion is $0.10 per million deletions.
    expect(bytes / counts.deleted).toBeLessThan(200);
    process.stdout.write(
      `logs at INFO: ${logLines.length} lines + ${metricLines} metric lines, ${Math.round(bytes / 1024)} KiB for ${counts.deleted} deletions (${Math.round(bytes / counts.deleted)} B each)\n`,
    );
  }, 120_000);
});
