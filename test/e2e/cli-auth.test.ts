import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SandboxHighLevelApi } from "../../local/sandbox-api.ts";
import { runCli } from "../helpers/run-cli.ts";

/** `ghl-csv-purge auth …` and `local --live --token-file` against the sandbox's OAuth endpoints. */
const CLIENT = { clientId: "cli-client-id", clientSecret: "cli-client-secret-9e2b" };

let sandbox: SandboxHighLevelApi;
let baseUrl: string;
let dir: string;
beforeEach(async () => {
  sandbox = new SandboxHighLevelApi({ tokens: [], oauth: CLIENT });
  baseUrl = await sandbox.start();
  dir = mkdtempSync(join(tmpdir(), "ghl-auth-"));
});
afterEach(async () => {
  await sandbox.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("ghl-csv-purge auth", () => {
  it("connects with a code, shows status without tokens, fails a revoked refresh in one line, and a new code lets the run finish", async () => {
    const oauth = sandbox.oauth as NonNullable<typeof sandbox.oauth>;
    const tokenFile = join(dir, "tokens.json");
    const env = { HIGHLEVEL_CLIENT_SECRET: CLIENT.clientSecret };
    const connect = (code: string) =>
      runCli(
        [
          ...["auth", "connect", "--client-id", CLIENT.clientId, "--code", code],
          ...["--user-type", "Location", "--token-file", tokenFile, "--base-url", baseUrl],
        ],
        env,
      );

    const first = await connect(
      oauth.authorizationCode({ userType: "Location", locationId: "authLoc" }),
    );
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("stored the location install (authLoc)");
    const stored = JSON.parse(readFileSync(tokenFile, "utf8"));
    expect(stored).toMatchObject({ type: "oauth", clientId: CLIENT.clientId });
    const pair = stored.locations.authLoc;

    const status = await runCli(["auth", "status", "--token-file", tokenFile, "--json"]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).tokens).toEqual([
      expect.objectContaining({ install: "location authLoc", expiresAt: pair.expiresAt }),
    ]);

    // The app is uninstalled (or the token leaked and was rotated): the refresh token is revoked.
    oauth.revoke(pair.refreshToken);
    const refresh = await runCli(
      ["auth", "refresh", "--all", "--token-file", tokenFile, "--base-url", baseUrl],
      env,
    );
    expect(refresh.code).toBe(1);
    expect(refresh.stdout).toContain("invalid-grant");
    expect(refresh.stderr.trim().split("\n")).toEqual([
      expect.stringContaining(
        "could not be refreshed: reconnect with `ghl-csv-purge auth connect`",
      ),
    ]);

    const again = await connect(
      oauth.authorizationCode({ userType: "Location", locationId: "authLoc" }),
    );
    expect(again.code).toBe(0);
    const uploads = Array.from({ length: 30 }, () => sandbox.addUpload("authLoc"));
    writeFileSync(
      join(dir, "jobs.csv"),
      `locationId,csvId\n${uploads.map((u) => `authLoc,${u._id}`).join("\n")}\n`,
    );
    const run = await runCli(
      [
        ...["local", "--live", "--yes", "--file", join(dir, "jobs.csv"), "--json"],
        ...["--token-file", tokenFile, "--data-dir", join(dir, "queue"), "--base-url", baseUrl],
      ],
      { HIGHLEVEL_TOKEN: "" },
    );
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      deleted: 30,
      deadLettered: 0,
      reconciled: true,
    });

    const everything = [first, status, refresh, again, run]
      .map((r) => r.stdout + r.stderr)
      .join("\n");
    const latest = JSON.parse(readFileSync(tokenFile, "utf8")).locations.authLoc;
    for (const secret of [
      CLIENT.clientSecret,
      pair.accessToken,
      pair.refreshToken,
      latest.accessToken,
      latest.refreshToken,
    ]) {
      expect(everything).not.toContain(secret);
    }
  }, 120_000);

  it("refuses an ambiguous or missing token set, and a wrong user type, with exit 2", async () => {
    const none = await runCli(["auth", "status"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("exactly one of --token-file, --secret-arn or --stack");
    const wrong = await runCli(
      [
        "auth",
        "connect",
        "--client-id",
        "x",
        "--code",
        "y",
        "--user-type",
        "Agency",
        "--token-file",
        "t",
      ],
      { HIGHLEVEL_CLIENT_SECRET: "s" },
    );
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("--user-type must be Company or Location");
  });
});
