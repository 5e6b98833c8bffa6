import { defineConfig } from "vitest/config";
import { SlowestFirst } from "./test/slowest-first.ts";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: "forks",
    // Three files at a time on two cores (Vitest's default here is one): most tests wait on
    // sockets and timers, not the CPU, and every wait in them is bounded by an event, not a
    // fixed time (issue #28).
    maxWorkers: 3,
    sequence: { sequencer: SlowestFirst },
    // Worker logs are shown for failing tests only.
    silent: "passed-only",
    env: {
      // Powertools writes through the global console, which Vitest captures.
      POWERTOOLS_DEV: "true",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
    },
  },
});
