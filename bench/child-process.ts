import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

/**
 * Runs a benchmark helper (`script`, TypeScript beside this file) in its own Node process,
 * with one JSON argument, talking in lines: `send` writes a line to its stdin, `nextLine` reads
 * the next line of its stdout.
 */
export function startChild(script: string, argument: unknown, name: string) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", new URL(script, import.meta.url).pathname, JSON.stringify(argument)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const iterator = lines[Symbol.asyncIterator]();
  return {
    send: (line: string) => child.stdin?.write(`${line}\n`),
    nextLine: async (): Promise<string> => {
      const next = await iterator.next();
      if (next.done) throw new Error(`${name} ended early`);
      return next.value;
    },
    exited: new Promise((resolve) => child.on("close", resolve)),
    /** A container dying mid-batch: SIGKILL, nothing flushed. */
    kill: () => child.kill("SIGKILL"),
  };
}
