import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { createOutputFile } from "../functions/core/files/output-file.ts";

/**
 * What a `local --live --data-dir` run has enqueued so far, kept beside the persisted queue so
 * that running the same command again resumes instead of sending the file a second time.
 */
export interface RunState {
  file: string;
  size: number;
  mtimeMs: number;
  /** Every job with a lower index is on the queue (or was processed already). */
  enqueuedThrough: number;
  enqueueComplete: boolean;
  /** The run its jobs carry; a resumed run keeps it (`runs show`, `report --data-dir`). */
  runId?: string;
  /** What every run on this file has done so far (an interrupted run and its resumes add up). */
  totals?: RunTotals;
  /** Set when a run drained the queue after sending the whole file: a rerun has nothing to do. */
  finished?: RunTotals & { at: string };
}

export interface RunTotals {
  deleted: number;
  alreadyAbsent: number;
  deadLettered: number;
}

const STATE_FILE = "ghl-csv-purge-run.json";

export function loadRunState(dataDir: string, file: string, restart = false): RunState {
  const identity = fileIdentity(file);
  const path = join(dataDir, STATE_FILE);
  if (!restart && existsSync(path)) {
    const saved = JSON.parse(readFileSync(path, "utf8")) as RunState;
    if (
      saved.file === identity.file &&
      saved.size === identity.size &&
      saved.mtimeMs === identity.mtimeMs
    ) {
      return saved;
    }
  }
  return { ...identity, enqueuedThrough: 0, enqueueComplete: false };
}

/** Replaces the saved state whole (`createOutputFile`): a killed run leaves the old or the new. */
export async function saveRunState(dataDir: string, state: RunState): Promise<void> {
  const file = await createOutputFile(join(dataDir, STATE_FILE));
  try {
    await file.write(JSON.stringify(state));
    await file.commit();
  } finally {
    await file.discard();
  }
}

function fileIdentity(file: string) {
  const stats = statSync(file);
  return { file: resolve(file), size: stats.size, mtimeMs: stats.mtimeMs };
}
