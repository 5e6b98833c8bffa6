import { type ChildProcess, spawn } from "node:child_process";
import { createInterface, type Interface } from "node:readline";
import type { ServersConfig, ServersInfo, ServersStats } from "./servers-process.ts";

/** Starts fauxqs and the sandbox in a child process and talks to it. */
export async function startServers(config: ServersConfig) {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      new URL("./servers-process.ts", import.meta.url).pathname,
      JSON.stringify(config),
    ],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  const lines: Interface = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const iterator = lines[Symbol.asyncIterator]();
  const nextLine = async () => {
    const next = await iterator.next();
    if (next.done) throw new Error("the servers process ended early");
    return JSON.parse(next.value) as unknown;
  };
  const info = (await nextLine()) as ServersInfo;
  return {
    ...info,
    stats: async (): Promise<ServersStats> => {
      child.stdin?.write("stats\n");
      return (await nextLine()) as ServersStats;
    },
    stop: async () => {
      child.stdin?.write("exit\n");
      await new Promise((resolve) => child.on("close", resolve));
    },
  };
}

export type Servers = Awaited<ReturnType<typeof startServers>>;
