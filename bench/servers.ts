import { startChild } from "./child-process.ts";
import type { ServersConfig, ServersInfo, ServersStats } from "./servers-process.ts";

/** Starts fauxqs and the sandbox in a child process and talks to it. */
export async function startServers(config: ServersConfig) {
  const servers = startChild("./servers-process.ts", config, "the servers process");
  const info = JSON.parse(await servers.nextLine()) as ServersInfo;
  return {
    ...info,
    stats: async (): Promise<ServersStats> => {
      servers.send("stats");
      return JSON.parse(await servers.nextLine()) as ServersStats;
    },
    /** Deletions per second over the drain, from its first call. */
    series: async (): Promise<number[]> => {
      servers.send("series");
      return JSON.parse(await servers.nextLine()) as number[];
    },
    trace: async () => {
      servers.send("trace");
      await servers.nextLine();
    },
    stop: async () => {
      servers.send("exit");
      await servers.exited;
    },
  };
}

export type Servers = Awaited<ReturnType<typeof startServers>>;
