import type { Command } from "commander";
import { createOAuthClient } from "../functions/core/auth/oauth-client.ts";
import {
  dynamoRefreshLease,
  fileRefreshLease,
  type RefreshLease,
} from "../functions/core/auth/refresh-lease.ts";
import { fileStore, secretsManagerStore } from "../functions/core/auth/secret-stores.ts";
import { refreshTokens, type SecretStore } from "../functions/core/auth/token-refresher.ts";
import {
  type OAuthSecret,
  parseTokenSecret,
  serializeOAuthSecret,
} from "../functions/core/auth/token-secret.ts";
import { tokenFingerprint } from "../functions/core/highlevel/token-source.ts";
import { AWS_FLAG_HELP } from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";
import { emit, table } from "./output.ts";

interface AuthFlags {
  secretArn?: string;
  stack?: string;
  tokenFile?: string;
  table?: string;
  region?: string;
  profile?: string;
  baseUrl: string;
  json?: boolean;
}

interface ConnectFlags extends AuthFlags {
  clientId: string;
  clientSecret?: string;
  appId?: string;
  code: string;
  redirectUri?: string;
  userType: string;
}

const DEFAULT_BASE_URL = "https://services.leadconnectorhq.com";

/** `auth connect | status | refresh`: the OAuth token set of a Marketplace app. */
export function registerAuthCommands(program: Command): void {
  const auth = program
    .command("auth")
    .description("Manage the HighLevel OAuth token set (Marketplace apps) in the token secret");
  const where = (command: Command) =>
    command
      .option("--secret-arn <arn>", "the token secret in Secrets Manager")
      .option("--stack <name>", "the deployed stack whose token secret and table to use")
      .option("--token-file <path>", "a token file, for local runs (`local --live --token-file`)")
      .option(
        "--table <name>",
        "the coordination table holding the refresh lease (with --secret-arn)",
      )
      .option("--region <region>", AWS_FLAG_HELP.region)
      .option("--profile <name>", AWS_FLAG_HELP.profile)
      .option(
        "--base-url <url>",
        "HighLevel API origin",
        process.env.HIGHLEVEL_BASE_URL ?? DEFAULT_BASE_URL,
      )
      .option("--json", "print the result as JSON on stdout");

  where(
    auth
      .command("connect")
      .description("Exchange an authorization code (from installing the app) and store the tokens")
      .requiredOption("--client-id <id>", "the app's client id")
      .option(
        "--client-secret <secret>",
        "the app's client secret (default: $HIGHLEVEL_CLIENT_SECRET)",
      )
      .requiredOption("--code <code>", "the authorization code HighLevel sent to the redirect URI")
      .option("--redirect-uri <uri>", "the redirect URI the code was issued for")
      .option("--user-type <type>", "Company (agency install) or Location", "Location")
      .option(
        "--app-id <id>",
        "the Marketplace app's id, recorded for `purge --all-locations` (default: the client id's part before '-')",
      ),
  )
    .addHelpText(
      "after",
      `
Example:
  $ HIGHLEVEL_CLIENT_SECRET=… ghl-csv-purge auth connect --client-id 65f…-lq9 --code 9b1… --user-type Company --stack GhlCsvPurge

The token set is merged into the secret (other locations' tokens stay); nothing is printed but
which install was stored and when its token expires.`,
    )
    .action(async (flags: ConnectFlags) => {
      if (flags.userType !== "Company" && flags.userType !== "Location") {
        throw new UsageError(`--user-type must be Company or Location, got "${flags.userType}"`);
      }
      const clientSecret = flags.clientSecret ?? process.env.HIGHLEVEL_CLIENT_SECRET;
      if (!clientSecret)
        throw new UsageError("--client-secret or HIGHLEVEL_CLIENT_SECRET is required");
      const { store } = await target(flags);
      const answer = await createOAuthClient({
        baseUrl: flags.baseUrl,
        clientId: flags.clientId,
        clientSecret,
      }).exchangeCode(flags.code, flags.userType, flags.redirectUri);
      if (!answer.ok)
        throw new OperationalError(`HighLevel did not accept the code: ${answer.detail}`);
      const { token, install } = answer;
      if (!token.refreshToken)
        throw new OperationalError("HighLevel's answer had no refresh token");
      const current = await store.read().catch(() => "");
      const parsed = current.trim() ? safeParse(current) : undefined;
      const secret: OAuthSecret =
        parsed?.kind === "oauth" && parsed.secret.clientId === flags.clientId
          ? parsed.secret
          : { type: "oauth", clientId: flags.clientId, clientSecret };
      secret.clientSecret = clientSecret;
      // installedLocations needs the app's id; a client id is "<appId>-<suffix>".
      const appId = flags.appId ?? /^([A-Za-z0-9]+)-[A-Za-z0-9]+$/.exec(flags.clientId)?.[1];
      if (appId) secret.appId = appId;
      const pair = {
        accessToken: token.accessToken,
        refreshToken: token.refreshToken,
        expiresAt: token.expiresAt,
        refreshedAt: new Date().toISOString(),
      };
      let which: string;
      if (flags.userType === "Company") {
        if (!install.companyId) throw new OperationalError("HighLevel's answer named no companyId");
        secret.company = { companyId: install.companyId, ...pair };
        which = `agency install (company ${install.companyId})`;
      } else {
        if (!install.locationId)
          throw new OperationalError("HighLevel's answer named no locationId");
        secret.locations = { ...secret.locations, [install.locationId]: pair };
        which = `location install (${install.locationId})`;
      }
      await store.write(serializeOAuthSecret(secret));
      emit(
        Boolean(flags.json),
        { stored: which, expiresAt: token.expiresAt },
        `stored the ${which}; its access token expires at ${token.expiresAt} and the refresher renews it`,
      );
    });

  where(
    auth
      .command("status")
      .description("Show the token secret's type and each token's expiry; never a token"),
  ).action(async (flags: AuthFlags) => {
    const { store } = await target(flags);
    const parsed = safeParse(await store.read());
    const now = Date.now();
    const describe = (expiresAt: string) => {
      const left = Date.parse(expiresAt) - now;
      return left <= 0 ? "EXPIRED" : `in ${(left / 3600_000).toFixed(1)} h`;
    };
    if (parsed.kind !== "oauth") {
      const status =
        parsed.kind === "token"
          ? { type: "private-integration-token", fingerprint: tokenFingerprint(parsed.token) }
          : { type: "tokens-per-location", locations: Object.keys(parsed.tokens).sort() };
      emit(
        Boolean(flags.json),
        status,
        parsed.kind === "token"
          ? `a Private Integration Token (fingerprint ${tokenFingerprint(parsed.token)}); nothing to refresh`
          : `Private Integration Tokens for ${Object.keys(parsed.tokens).length} location key(s): ${Object.keys(parsed.tokens).sort().join(", ")}; nothing to refresh`,
      );
      return;
    }
    const secret = parsed.secret;
    const rows = [
      ...(secret.company
        ? [{ install: `company ${secret.company.companyId}`, ...times(secret.company) }]
        : []),
      ...Object.entries(secret.locations ?? {}).map(([id, pair]) => ({
        install: `location ${id}`,
        ...times(pair),
      })),
    ];
    const expired = rows.filter((row) => Date.parse(row.expiresAt) <= now).length;
    emit(
      Boolean(flags.json),
      { type: "oauth", clientId: secret.clientId, tokens: rows, expired },
      [
        `OAuth token set of app ${secret.clientId}`,
        table([
          ["install", "expires", "", "last refresh"],
          ...rows.map((r) => [r.install, r.expiresAt, describe(r.expiresAt), r.refreshedAt ?? "-"]),
        ]),
      ].join("\n"),
    );
    if (expired > 0) {
      throw new OperationalError(
        `${expired} access token(s) expired: run \`ghl-csv-purge auth refresh\`, and if that fails, \`auth connect\` with a new code`,
      );
    }
  });

  where(
    auth
      .command("refresh")
      .description("Refresh the tokens that expire within 6 h now, under the refresh lease")
      .option("--all", "refresh every token, however long it still lives"),
  ).action(async (flags: AuthFlags & { all?: boolean }) => {
    const { store, lease } = await target(flags);
    const report = await refreshTokens({
      store,
      lease,
      oauth: (secret) => createOAuthClient({ baseUrl: flags.baseUrl, ...secret }),
      ...(flags.all && { refreshWithinMs: Number.POSITIVE_INFINITY }),
    });
    const text = report.leaseHeld
      ? "another refresher holds the lease (it runs hourly): nothing done"
      : report.notOAuth
        ? "the secret holds Private Integration Tokens: nothing to refresh"
        : table([
            ["token", "result", "expires", "detail"],
            ...report.outcomes.map((o) => [o.which, o.result, o.expiresAt, o.detail ?? ""]),
          ]);
    emit(Boolean(flags.json), report, text);
    if (report.failed > 0) {
      throw new OperationalError(
        `${report.failed} token(s) could not be refreshed: reconnect with \`ghl-csv-purge auth connect\` and a new code`,
      );
    }
  });
}

function times(pair: { expiresAt: string; refreshedAt?: string | undefined }) {
  return { expiresAt: pair.expiresAt, refreshedAt: pair.refreshedAt };
}

function safeParse(text: string) {
  try {
    return parseTokenSecret(text);
  } catch (error) {
    throw new OperationalError((error as Error).message);
  }
}

/** Where the token set lives (exactly one of --token-file, --secret-arn, --stack) and its lease. */
async function target(flags: AuthFlags): Promise<{ store: SecretStore; lease: RefreshLease }> {
  const given = [flags.tokenFile, flags.secretArn, flags.stack].filter(Boolean).length;
  if (given !== 1) {
    throw new UsageError(
      "name the token set with exactly one of --token-file, --secret-arn or --stack",
    );
  }
  if (flags.tokenFile) {
    return { store: fileStore(flags.tokenFile), lease: fileRefreshLease(flags.tokenFile) };
  }
  const aws = {
    ...(flags.region && { region: flags.region }),
    ...(flags.profile && { profile: flags.profile }),
  };
  let secretArn = flags.secretArn;
  let tableName = flags.table;
  if (flags.stack) {
    const { readStackOutputs } = await import("./stack-outputs.ts");
    const outputs = await readStackOutputs(flags.stack, aws);
    secretArn = outputs.TokenSecretArn;
    tableName ??= outputs.CoordinationTableName;
    if (!secretArn) throw new UsageError(`stack ${flags.stack} has no TokenSecretArn output`);
  }
  const { SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
  const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
  const endpoint = process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER;
  const store = secretsManagerStore(
    new SecretsManagerClient({ ...aws, ...(endpoint && { endpoint }) }),
    secretArn as string,
  );
  if (!tableName) {
    return {
      store,
      lease: {
        take: async () => {
          throw new UsageError(
            "--table (the coordination table) is required to refresh with --secret-arn",
          );
        },
        release: async () => {},
      },
    };
  }
  const dynamoEndpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  return {
    store,
    lease: dynamoRefreshLease(
      new DynamoDBClient({ ...aws, ...(dynamoEndpoint && { endpoint: dynamoEndpoint }) }),
      tableName,
      secretArn as string,
    ),
  };
}
