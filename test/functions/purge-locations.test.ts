import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { tokenSourceFromText } from "../../functions/core/highlevel/token-source.ts";
import { createPlanPurgeHandler } from "../../functions/plan-purge/create-handler.ts";
import { type EmbeddedDynamoDb, startEmbeddedDynamoDb } from "../../local/embedded-dynamodb.ts";
import { type EmbeddedSqs, startEmbeddedSqs } from "../../local/embedded-sqs.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { lambdaContext } from "../helpers/lambda-context.ts";
import { runCli } from "../helpers/run-cli.ts";

const DAY = 24 * 3600 * 1000;
const OAUTH = { clientId: "app65f0-client", clientSecret: "client-SECRET-4e1a", appId: "app65f0" };

let sandbox: SandboxHighLevelApi;
let baseUrl: string;
let dir: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "ghl-purge-locations-"));
});
afterEach(async () => {
  await sandbox?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startSandbox(tokens: string[], options: { latencyMs?: number } = {}) {
  sandbox = new SandboxHighLevelApi({ tokens, oauth: OAUTH, ...options });
  baseUrl = await sandbox.start();
}

/** Two old uploads per location (one deletable), so every listed location shows in the plan. */
function seed(locationIds: string[]) {
  for (const locationId of locationIds) {
    sandbox.addUpload(locationId, { createdAt: new Date(Date.now() - 90 * DAY).toISOString() });
    sandbox.addUpload(locationId, { createdAt: new Date(Date.now() - 2 * DAY).toISOString() });
  }
}

const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const purge = (args: string[], env: Record<string, string> = {}) =>
  runCli(["purge", "--dry-run", "--json", "--base-url", baseUrl, ...args], {
    HIGHLEVEL_TOKEN: "",
    ...env,
  });

describe("purge every sub-account", () => {
  it("lists a token map's locations (not `default`), each with its own token, none printed", async () => {
    const tokens = { default: "pit-DEFAULT-1", mapLoc1: "pit-ONE-2", mapLoc2: "pit-TWO-3" };
    await startSandbox(["pit-ONE-2", "pit-TWO-3"]);
    seed(["mapLoc1", "mapLoc2"]);
    const result = await purge([
      "--all-locations",
      "--token-file",
      file("map.json", JSON.stringify(tokens)),
    ]);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan.locations.map((l: { locationId: string }) => l.locationId)).toEqual([
      "mapLoc1",
      "mapLoc2",
    ]);
    expect(plan.discovered.from).toEqual({ tokenMap: 2, oauthLocations: 0, agencyInstalls: 0 });
    expect(plan.totals.delete).toBe(2);
    // Each location was listed with its own token (the sandbox accepts only those two).
    expect(sandbox.count(401)).toBe(0);
    for (const token of Object.values(tokens)) {
      expect(result.stdout + result.stderr).not.toContain(token);
    }
  });

  it("lists an agency install's locations page by page, leaving out those the app was removed from", async () => {
    await startSandbox([]);
    const oauth = sandbox.oauth;
    if (!oauth) throw new Error("no oauth");
    const installed = Array.from({ length: 130 }, (_, i) => `agencyLoc${i}`);
    const agency = oauth.installAtCompany("companyA", installed);
    oauth.uninstallAt("companyA", "agencyLoc7");
    const ownPair = oauth.installAtLocation("ownLoc");
    seed([...installed, "ownLoc"]);
    const secret = {
      type: "oauth",
      ...OAUTH,
      company: { companyId: "companyA", ...agency },
      locations: { ownLoc: ownPair },
    };
    const result = await purge([
      "--all-locations",
      "--token-file",
      file("oauth.json", JSON.stringify(secret)),
      "--concurrency",
      "32",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout);
    const planned = plan.locations.map((l: { locationId: string }) => l.locationId);
    expect(planned).toHaveLength(130);
    expect(planned[0]).toBe("ownLoc");
    expect(planned).not.toContain("agencyLoc7");
    expect(plan.discovered).toEqual({
      from: { tokenMap: 0, oauthLocations: 1, agencyInstalls: 129 },
      notInstalled: 0,
    });
    // 129 installed at 100 a page: two pages; each location listed with a minted token.
    expect(oauth.installedLocationsCalls).toBe(2);
    expect(oauth.locationTokenCalls).toBe(129);
    expect(plan.totals.delete).toBe(130);
    for (const secretText of [agency.accessToken, agency.refreshToken, OAUTH.clientSecret]) {
      expect(result.stdout + result.stderr).not.toContain(secretText);
    }
  });

  it("refuses --all-locations with one bare token in one line, exit 2", async () => {
    await startSandbox(["pit-BARE-9"]);
    const result = await purge(["--all-locations"], { HIGHLEVEL_TOKEN: "pit-BARE-9" });
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toContain("one token does not list locations");
    expect(result.stderr).toContain("--locations-file");
    expect(result.stderr).not.toContain("pit-BARE-9");
  });

  it("reads --locations-file as one id per line or as a CSV with a locationId column", async () => {
    await startSandbox(["pit-FILE-1"]);
    seed(["fileLoc1", "fileLoc2", "fileLoc3"]);
    const env = { HIGHLEVEL_TOKEN: "pit-FILE-1" };
    const plain = await purge(
      ["--locations-file", file("ids.txt", "# sub-accounts\nfileLoc1\n\nfileLoc2\nfileLoc1\n")],
      env,
    );
    expect(plain.code).toBe(0);
    expect(
      JSON.parse(plain.stdout).locations.map((l: { locationId: string }) => l.locationId),
    ).toEqual(["fileLoc1", "fileLoc2"]);
    const csv = await purge(
      ["--locations-file", file("ids.csv", "name,locationId\nAcme,fileLoc3\nBeta,fileLoc2\n")],
      env,
    );
    expect(csv.code).toBe(0);
    expect(
      JSON.parse(csv.stdout).locations.map((l: { locationId: string }) => l.locationId),
    ).toEqual(["fileLoc3", "fileLoc2"]);
    // A spreadsheet's export: BOM, CRLF, quoted cells holding commas, quotes and a newline.
    const sheet = await purge(
      [
        "--locations-file",
        file(
          "sheet.csv",
          '\uFEFFname,LocationID,plan\r\n"Acme, Inc.",fileLoc1,pro\r\n"The ""Beta"" Co.\nLondon",fileLoc3,"free, for now"\r\n',
        ),
      ],
      env,
    );
    expect(sheet.code).toBe(0);
    expect(
      JSON.parse(sheet.stdout).locations.map((l: { locationId: string }) => l.locationId),
    ).toEqual(["fileLoc1", "fileLoc3"]);
    const twice = await purge(
      ["--locations-file", file("twice.csv", "locationId,name,locationid\nfileLoc1,A,fileLoc2\n")],
      env,
    );
    expect(twice.code).toBe(2);
    expect(twice.stderr.trim().split("\n")).toHaveLength(1);
    expect(twice.stderr).toContain('"locationId" and "locationid"');
    const bad = await purge(["--locations-file", file("bad.txt", "fileLoc1\nnot/an/id\n")], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("line 2");
    const both = await purge(["-l", "fileLoc1", "--all-locations"], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain("exactly one of");
  });

  it("reports a location whose listing fails as incomplete, with why, and plans the others", async () => {
    await startSandbox(["pit-PART-2"]);
    seed(["partLoc1", "partLoc2", "partLoc3"]);
    sandbox.scriptListing("partLoc2", [500, 500, 500, 500]);
    const result = await purge(["-l", "partLoc1", "partLoc2", "partLoc3"], {
      HIGHLEVEL_TOKEN: "pit-PART-2",
    });
    expect(result.code).toBe(1);
    const plan = JSON.parse(result.stdout);
    const byId = Object.fromEntries(
      plan.locations.map((l: { locationId: string }) => [l.locationId, l]),
    );
    expect(byId.partLoc2.incomplete).toMatch(/500/);
    expect(byId.partLoc1).toMatchObject({ selected: 1 });
    expect(byId.partLoc3).toMatchObject({ selected: 1 });
    expect(result.stderr.trim().split("\n").at(-1)).toContain("1 of 3 location(s) incomplete");
  });
});

describe('the scheduled planner with locationIds: "all"', () => {
  let sqs: EmbeddedSqs;
  let table: EmbeddedDynamoDb;
  beforeEach(async () => {
    sqs = await startEmbeddedSqs();
    table = await startEmbeddedDynamoDb();
  });
  afterEach(async () => {
    await sqs.stop();
    await table.stop();
  });

  it("records the locations it did not reach before its timeout and starts with them next time", async () => {
    const locations = Array.from({ length: 12 }, (_, i) => `schedLoc${String(i).padStart(2, "0")}`);
    const tokens = Object.fromEntries(locations.map((id) => [id, `pit-${id}`]));
    await startSandbox(Object.values(tokens), { latencyMs: 150 });
    seed(locations);
    const { queueUrl } = await sqs.createPipelineQueues(`sched-${Date.now()}`, {
      maxReceiveCount: 5,
      visibilityTimeoutSeconds: 30,
    });
    const handler = createPlanPurgeHandler(
      {
        HIGHLEVEL_BASE_URL: baseUrl,
        HIGHLEVEL_TOKEN: "unused",
        QUEUE_URL: queueUrl,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        COORDINATION_TABLE: table.tableName,
        AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
        PURGE_CONCURRENCY: "2",
      },
      {
        sqs: sqs.client,
        dynamoDb: async () => table.client,
        tokens: tokenSourceFromText(async () => JSON.stringify(tokens), { oauthBaseUrl: baseUrl }),
      },
    );
    const policy = { locationIds: "all", olderThanDays: 30, runName: "nightly" };
    // 5 s, 2 s of it kept back, no location started in the last 3 s: few are reached.
    const first = await handler(policy, lambdaContext(6_500, "plan-purge"));
    const reached = first.locations.filter((l) => !l.incomplete).map((l) => l.locationId);
    expect(first.notReached.length).toBeGreaterThan(0);
    expect(reached.length).toBeGreaterThan(0);
    expect(first.resumeNext).toEqual(
      first.locations.filter((l) => l.incomplete).map((l) => l.locationId),
    );
    expect(first.enqueued).toBe(reached.length);

    const second = await handler(policy, lambdaContext(60_000, "plan-purge"));
    // It starts with what the first left, then the rest; and leaves nothing behind.
    expect(second.locations.slice(0, first.resumeNext.length).map((l) => l.locationId)).toEqual(
      first.resumeNext,
    );
    expect(second.resumeNext).toEqual([]);
    expect(second.notReached).toEqual([]);
    const third = await handler(policy, lambdaContext(60_000, "plan-purge"));
    expect(third.locations.map((l) => l.locationId)).toEqual(locations);
  });
});
