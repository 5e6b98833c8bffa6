import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOAuthClient } from "../../functions/core/auth/oauth-client.ts";
import { parseTokenSecret } from "../../functions/core/auth/token-secret.ts";
import {
  TokenExpiredError,
  tokenSourceFromText,
} from "../../functions/core/highlevel/token-source.ts";
import { createDeleteCsvHandler } from "../../functions/delete-csv/create-handler.ts";
import { type EmbeddedDynamoDb, startEmbeddedDynamoDb } from "../../local/embedded-dynamodb.ts";
import { startLocalPipeline } from "../../local/local-pipeline.ts";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { toSqsEvent } from "../../local/sqs-event.ts";
import { startFakeSecretsManager } from "../helpers/fake-secrets-manager.ts";
import { lambdaContext } from "../helpers/lambda-context.ts";
import { ROOT } from "../helpers/run-cli.ts";
import { startWorkerHarness, type WorkerHarness } from "../helpers/worker-harness.ts";

/** Issue #13: HighLevel's refresh tokens are single-use; the fleet must never spend one twice. */
const ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghl-oauth-AbCdEf";
const CLIENT = { clientId: "sandbox-client-id", clientSecret: "sandbox-client-secret-d41f" };
const HOUR = 3600_000;

let sandbox: SandboxHighLevelApi;
let baseUrl: string;
let table: EmbeddedDynamoDb;

beforeEach(async () => {
  sandbox = new SandboxHighLevelApi({
    tokens: [],
    oauth: { ...CLIENT, accessTokenLifetimeMs: 24 * HOUR },
  });
  baseUrl = await sandbox.start();
  table = await startEmbeddedDynamoDb();
});
afterEach(async () => {
  await sandbox.stop();
  await table.stop();
});

/** An OAuth secret whose tokens the secret says expire in one hour: all due for refresh. */
function dueSecret() {
  const oauth = sandbox.oauth;
  if (!oauth) throw new Error("no oauth");
  const inAnHour = new Date(Date.now() + HOUR).toISOString();
  const company = oauth.installAtCompany("companyX", ["mintedLoc"]);
  const locA = oauth.installAtLocation("locA");
  const locB = oauth.installAtLocation("locB");
  return {
    type: "oauth",
    ...CLIENT,
    company: { companyId: "companyX", ...company, expiresAt: inAnHour },
    locations: {
      locA: { ...locA, expiresAt: inAnHour },
      locB: { ...locB, expiresAt: inAnHour },
    },
  };
}

function startRefresher(env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", join(ROOT, "test/helpers/refresher-process.ts"), JSON.stringify(env)],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "local",
        AWS_SECRET_ACCESS_KEY: "local",
        POWERTOOLS_DEV: "",
      },
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  const lines = createInterface({ input: child.stdout });
  const output: string[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
  });
  const ready = new Promise<void>((resolve) =>
    lines.on("line", (line) => {
      output.push(line);
      if (line === "ready") resolve();
    }),
  );
  const exit = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? -1)));
  return {
    ready,
    go: () => child.stdin.write("go\n"),
    done: async () => {
      const code = await exit;
      const report = output.find((line) => line.startsWith('{"leaseHeld"'));
      return { code, report: report ? JSON.parse(report) : undefined, output, stderr };
    },
  };
}

describe("the token refresher", () => {
  it("20 refreshers started at once in separate processes spend each refresh token exactly once", async () => {
    const initial = dueSecret();
    const secrets = await startFakeSecretsManager({ [ARN]: JSON.stringify(initial) });
    try {
      const env = {
        HIGHLEVEL_TOKEN_SECRET_ARN: ARN,
        COORDINATION_TABLE: table.tableName,
        HIGHLEVEL_BASE_URL: baseUrl,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
        AWS_ENDPOINT_URL_DYNAMODB: table.endpoint,
      };
      const refreshers = Array.from({ length: 20 }, () => startRefresher(env));
      await Promise.all(refreshers.map((r) => r.ready));
      for (const refresher of refreshers) refresher.go();
      const results = await Promise.all(refreshers.map((r) => r.done()));

      expect(results.map((r) => r.code)).toEqual(Array(20).fill(0));
      const reports = results.map((r) => r.report);
      expect(reports.every((report) => report !== undefined)).toBe(true);
      expect(reports.reduce((sum, r) => sum + r.refreshed, 0)).toBe(3);
      expect(reports.reduce((sum, r) => sum + r.failed, 0)).toBe(0);
      // Every original refresh token went to HighLevel once, and only once.
      const originals = [
        initial.company.refreshToken,
        initial.locations.locA.refreshToken,
        initial.locations.locB.refreshToken,
      ];
      for (const token of originals) expect(sandbox.oauth?.refreshCalls.get(token)).toBe(1);
      expect(sandbox.oauth?.tokenCalls).toBe(3);

      const stored = parseTokenSecret(secrets.value(ARN) ?? "");
      expect(stored.kind).toBe("oauth");
      if (stored.kind !== "oauth") return;
      expect(stored.secret.locations?.locA?.refreshToken).not.toBe(
        initial.locations.locA.refreshToken,
      );
      expect(Date.parse(stored.secret.locations?.locA?.expiresAt ?? "")).toBeGreaterThan(
        Date.now() + 20 * HOUR,
      );
      // The new pair is the one HighLevel holds: it refreshes once more.
      const again = await createOAuthClient({ baseUrl, ...CLIENT }).refresh(
        stored.secret.locations?.locA?.refreshToken ?? "",
        "Location",
      );
      expect(again.ok).toBe(true);
      // No token or client secret in any process's output.
      const everything = results.map((r) => r.output.join("\n") + r.stderr).join("\n");
      for (const secret of [
        CLIENT.clientSecret,
        ...originals,
        initial.locations.locA.accessToken,
      ]) {
        expect(everything).not.toContain(secret);
      }
      expect(everything).toContain('"TokensRefreshed"');
    } finally {
      await secrets.stop();
    }
  }, 120_000);
});

describe("OAuth tokens in the worker", () => {
  const source = (secret: unknown) =>
    tokenSourceFromText(async () => JSON.stringify(secret), { oauthBaseUrl: baseUrl });

  it("mints a location token from the agency install once per container, and uses a location install's own", async () => {
    const secret = dueSecret();
    const tokens = source(secret);
    const [first, second] = await Promise.all([
      tokens.tokenFor("mintedLoc"),
      tokens.tokenFor("mintedLoc"),
    ]);
    expect(first).toBe(second);
    expect(sandbox.oauth?.locationTokenCalls).toBe(1);
    expect(sandbox.oauth?.accepts(first, "mintedLoc")).toBe("ok");
    expect(await tokens.tokenFor("locA")).toBe(secret.locations.locA.accessToken);
    expect(tokens.usesOAuth()).toBe(true);
  });

  it("an expired access token is a TokenExpiredError (the job waits), never a token in the message", async () => {
    const secret = dueSecret();
    secret.locations.locA.expiresAt = new Date(Date.now() - 1_000).toISOString();
    const error = await source(secret)
      .tokenFor("locA")
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TokenExpiredError);
    expect(String(error)).toContain("the token refresher renews it");
    expect(String(error)).not.toContain(secret.locations.locA.accessToken);
  });
});

describe("the worker with an OAuth secret", () => {
  let harness: WorkerHarness | undefined;
  afterEach(async () => {
    await harness?.stop();
    harness = undefined;
  });

  /** The real handler, reading an OAuth secret from Secrets Manager, against an OAuth sandbox. */
  async function workerWith(secret: unknown) {
    const secrets = await startFakeSecretsManager({ [ARN]: JSON.stringify(secret) });
    harness = await startWorkerHarness({
      sandbox: { oauth: { ...CLIENT, accessTokenLifetimeMs: 24 * HOUR } },
    });
    const h = harness;
    const handler = createDeleteCsvHandler(
      { ...h.env, HIGHLEVEL_TOKEN: "", HIGHLEVEL_TOKEN_SECRET_ARN: ARN },
      { sqs: h.sqs.client, secrets: secrets.provider, onSettled: (r) => h.results.push(r) },
    );
    const run = async (locationId: string, csvId: string) => {
      const event = toSqsEvent(
        [
          {
            MessageId: `m-${csvId}`,
            Body: h.job(locationId, csvId),
            Attributes: { ApproximateReceiveCount: "1" },
          },
        ],
        h.queues.queueArn,
      );
      return handler(event, lambdaContext());
    };
    return { h, run, secrets };
  }

  function installs(h: WorkerHarness) {
    const oauth = h.sandbox.oauth;
    if (!oauth) throw new Error("no oauth");
    const company = oauth.installAtCompany("companyX", ["mintedLoc"]);
    const locA = oauth.installAtLocation("locA");
    return {
      type: "oauth",
      ...CLIENT,
      company: { companyId: "companyX", ...company },
      locations: { locA },
    };
  }

  it("deletes with a location install's token and with one minted from the agency's", async () => {
    const { h, run, secrets } = await workerWith({});
    try {
      secrets.set(ARN, JSON.stringify(installs(h)));
      const a = h.sandbox.addUpload("locA");
      const minted = h.sandbox.addUpload("mintedLoc");
      await run("locA", a._id);
      await run("mintedLoc", minted._id);
      expect(h.results.map((r) => r.outcome)).toEqual(["deleted", "deleted"]);
      expect(h.sandbox.oauth?.locationTokenCalls).toBe(1);
    } finally {
      await secrets.stop();
    }
  });

  it("defers (TokenExpired), never dead-letters, while the access token is expired or stays refused", async () => {
    const { h, run, secrets } = await workerWith({});
    try {
      const secret = installs(h);
      secret.locations.locA.expiresAt = new Date(Date.now() - 60_000).toISOString();
      secrets.set(ARN, JSON.stringify(secret));
      const upload = h.sandbox.addUpload("locA");
      await run("locA", upload._id);
      expect(h.results).toEqual([
        expect.objectContaining({ outcome: "deferred", tokenExpired: true }),
      ]);
      expect(h.sandbox.callsTo("DELETE")).toHaveLength(0);

      // A token the secret says is valid but HighLevel refuses (revoked early): re-read once, then wait.
      secret.locations.locA = {
        ...secret.locations.locA,
        accessToken: "revoked-access",
        expiresAt: new Date(Date.now() + HOUR).toISOString(),
      };
      secrets.set(ARN, JSON.stringify(secret));
      const second = h.sandbox.addUpload("locA");
      await run("locA", second._id);
      expect(h.results.at(-1)).toMatchObject({ outcome: "deferred", tokenExpired: true });
      expect(h.deadLetters()).toHaveLength(0);
    } finally {
      await secrets.stop();
    }
  });

  it("dead-letters only a paused location's jobs as unauthorized, saying why", async () => {
    const { h, run, secrets } = await workerWith({});
    try {
      secrets.set(ARN, JSON.stringify(installs(h)));
      h.sandbox.oauth?.deactivate("locA");
      const upload = h.sandbox.addUpload("locA");
      await run("locA", upload._id);
      expect(h.results.map((r) => r.outcome)).toEqual(["dead-lettered"]);
      expect(h.deadLetters()[0]?.attributes["failure-reason"]).toBe("unauthorized");
      expect(h.deadLetters()[0]?.attributes["failure-detail"]).toContain("is not active");
    } finally {
      await secrets.stop();
    }
  });
});

describe("a local run with short-lived OAuth tokens", () => {
  it("deletes 600 jobs while access tokens live 12 s and the refresher runs every second: no unauthorized dead letter", async () => {
    const quick = new SandboxHighLevelApi({
      tokens: [],
      oauth: { ...CLIENT, accessTokenLifetimeMs: 12_000 },
      burst: { max: 20, intervalMs: 1_000 },
    });
    const quickUrl = await quick.start();
    const dir = mkdtempSync(join(tmpdir(), "ghl-token-file-"));
    const path = join(dir, "tokens.json");
    let pipeline: Awaited<ReturnType<typeof startLocalPipeline>> | undefined;
    try {
      const oauth = quick.oauth as NonNullable<typeof quick.oauth>;
      const locations = ["shortLocA", "shortLocB"];
      writeFileSync(
        path,
        JSON.stringify({
          type: "oauth",
          ...CLIENT,
          locations: Object.fromEntries(locations.map((l) => [l, oauth.installAtLocation(l)])),
        }),
      );
      // 600 jobs at 20 calls a second for each of two locations: at least 14 s, longer than a
      // token lives. The worker takes a token as expired 5 s before its time, so a token is
      // refreshed within 9 s of its end (at 3 s old), each second's run finding it.
      const bodies = Array.from({ length: 600 }, (_, i) => {
        const locationId = locations[i % 2] as string;
        return JSON.stringify({ locationId, csvId: quick.addUpload(locationId)._id });
      });
      pipeline = await startLocalPipeline({
        highLevelBaseUrl: quickUrl,
        token: "",
        functionTimeoutSeconds: 10,
        batchingWindowSeconds: 0,
        perContainerPacing: true,
        tokenFile: { path, refreshEveryMs: 1_000, refreshWithinMs: 9_000 },
      });
      await pipeline.sendBodies(bodies);
      const started = Date.now();
      pipeline.poller.start();
      await pipeline.waitUntilDrained(new AbortController().signal);

      expect(Date.now() - started).toBeGreaterThan(12_000);
      expect(pipeline.tally.deleted).toBe(600);
      expect(pipeline.tally.deadLetteredTotal).toBe(0);
      expect(pipeline.tally.deferred).toBe(0);
      const refreshed = pipeline.tokenFile?.reports.reduce((sum, r) => sum + r.refreshed, 0) ?? 0;
      // Every location's token outlived at least once.
      expect(refreshed).toBeGreaterThanOrEqual(2);
      expect(quick.calls.filter((c) => c.status === 401)).toHaveLength(0);
    } finally {
      await pipeline?.stop();
      await quick.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
