import type { SandboxHighLevelApi } from "./sandbox-api.ts";

/** What each demo upload is meant to show. */
export type DemoKind =
  | "deletable"
  | "already-gone"
  | "soft-deleted"
  | "flaky"
  | "very-flaky"
  | "rejected"
  | "invalid"
  | "duplicate";

export interface DemoJob {
  kind: DemoKind;
  body: string;
}

export const DEMO_LOCATIONS = ["demoLocAlpha", "demoLocBravo", "demoLocCharlie", "demoLocDelta"];

/**
 * Fills the sandbox with uploads of every kind and returns the jobs that delete them, in a
 * shuffled order: deletable ones, ids that never existed, soft-deleted uploads (HighLevel
 * answers 400), flaky ones (5xx then success, some needing a redelivery), uploads still
 * importing (422: dead-lettered), invalid bodies and duplicates.
 */
export function seedDemo(sandbox: SandboxHighLevelApi, perLocation = 40): DemoJob[] {
  const jobs: DemoJob[] = [];
  const body = (locationId: string, csvId: string) =>
    JSON.stringify({ locationId, csvId, reason: "demo", requestedBy: "npm start" });
  const day = 24 * 3600 * 1000;
  for (const locationId of DEMO_LOCATIONS) {
    for (let i = 0; i < perLocation; i++) {
      const createdAt = new Date(Date.now() - (i + 1) * day).toISOString();
      const roll = i % 20;
      if (roll === 0) {
        jobs.push({ kind: "already-gone", body: body(locationId, `neverExisted${i}`) });
      } else if (roll === 1) {
        const upload = sandbox.addUpload(locationId, { status: "deleted", createdAt });
        jobs.push({ kind: "soft-deleted", body: body(locationId, upload._id) });
      } else if (roll === 2 || roll === 3) {
        const upload = sandbox.addUpload(locationId, { createdAt });
        sandbox.script(locationId, upload._id, [500, 503]);
        jobs.push({ kind: "flaky", body: body(locationId, upload._id) });
      } else if (roll === 4 && locationId === DEMO_LOCATIONS[0]) {
        const upload = sandbox.addUpload(locationId, { createdAt });
        sandbox.script(locationId, upload._id, [503, 503, 503]);
        jobs.push({ kind: "very-flaky", body: body(locationId, upload._id) });
      } else if (roll === 5) {
        const upload = sandbox.addUpload(locationId, { status: "importing", createdAt });
        jobs.push({ kind: "rejected", body: body(locationId, upload._id) });
      } else {
        const status = i % 3 === 0 ? "failed" : "completed";
        const upload = sandbox.addUpload(locationId, { status, createdAt });
        jobs.push({ kind: "deletable", body: body(locationId, upload._id) });
        if (roll === 7) jobs.push({ kind: "duplicate", body: body(locationId, upload._id) });
      }
    }
  }
  jobs.push(
    { kind: "invalid", body: "this is not JSON" },
    {
      kind: "invalid",
      body: JSON.stringify({ locationId: "demoLocAlpha", csvId: "../../etc/passwd" }),
    },
    { kind: "invalid", body: JSON.stringify({ locationId: "demoLocBravo" }) },
  );
  return shuffle(jobs);
}

function shuffle<T>(items: T[]): T[] {
  let seed = 42;
  const random = () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
