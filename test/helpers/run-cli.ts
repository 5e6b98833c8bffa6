import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "../..");

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number>;
}

/** Runs `ghl-csv-purge …` in its own Node process (the project's Node 24, TypeScript via tsx). */
export function startCli(args: string[], env: Record<string, string> = {}, input?: string): CliRun {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "cli/main.ts"), ...args], {
    cwd: ROOT,
    env: { ...process.env, POWERTOOLS_DEV: "", ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    stderr += chunk;
  });
  if (input !== undefined) child.stdin?.end(input);
  else child.stdin?.end();
  const exit = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  return { child, stdout: () => stdout, stderr: () => stderr, exit };
}

export async function runCli(args: string[], env: Record<string, string> = {}, input?: string) {
  const run = startCli(args, env, input);
  const code = await run.exit;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}
