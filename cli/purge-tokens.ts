import { existsSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import {
  fixedTokenSource,
  type TokenSource,
  tokenSourceFromText,
} from "../functions/core/highlevel/token-source.ts";
import { readLocationsFile } from "../functions/core/producers/locations-file.ts";
import { describeAwsError } from "./aws-clients.ts";
import { OperationalError, UsageError } from "./errors.ts";

export interface PurgeTokenFlags {
  tokenFile?: string;
  secretArn?: string;
  region?: string;
  profile?: string;
}

/**
 * Where `purge` gets its tokens, as the worker does: a token file or a Secrets Manager secret
 * in any shape (a PIT, a map per location, an OAuth set), else HIGHLEVEL_TOKEN. Each location
 * is listed with its own token; none is ever printed.
 */
export async function purgeTokens(
  flags: PurgeTokenFlags,
  stackSecretArn: string | undefined,
  baseUrl: string,
): Promise<{ tokens: TokenSource; from: string }> {
  if (flags.tokenFile) {
    const path = flags.tokenFile;
    if (!existsSync(path)) throw new UsageError(`--token-file ${path}: no such file`);
    return {
      tokens: tokenSourceFromText(() => readFile(path, "utf8"), { oauthBaseUrl: baseUrl }),
      from: `token file ${path}`,
    };
  }
  const secretArn = flags.secretArn ?? stackSecretArn;
  if (secretArn) {
    if (!/^arn:aws[a-z-]*:secretsmanager:/.test(secretArn)) {
      throw new UsageError(`--secret-arn must be a Secrets Manager secret ARN, got "${secretArn}"`);
    }
    const { GetSecretValueCommand, SecretsManagerClient } = await import(
      "@aws-sdk/client-secrets-manager"
    );
    const region = flags.region ?? secretArn.split(":")[3];
    const client = new SecretsManagerClient({
      ...(region && { region }),
      ...(flags.profile && { profile: flags.profile }),
    });
    const read = async () => {
      try {
        const { SecretString } = await client.send(
          new GetSecretValueCommand({ SecretId: secretArn }),
        );
        return SecretString ?? "";
      } catch (error) {
        throw new OperationalError(
          `could not read the token secret ${secretArn}: ${describeAwsError(error)}`,
        );
      }
    };
    return {
      tokens: tokenSourceFromText(read, { oauthBaseUrl: baseUrl }),
      from: `secret ${secretArn}`,
    };
  }
  const token = process.env.HIGHLEVEL_TOKEN?.trim();
  if (token) return { tokens: fixedTokenSource(token), from: "HIGHLEVEL_TOKEN" };
  throw new UsageError(
    "no HighLevel token: give --token-file, --secret-arn or --stack, or set HIGHLEVEL_TOKEN",
  );
}

/** The ids of `--locations-file`, or a usage error naming the line. */
export async function locationsFromFile(path: string): Promise<string[]> {
  if (!existsSync(path)) throw new UsageError(`--locations-file ${path}: no such file`);
  if (statSync(path).isDirectory()) {
    throw new UsageError(`--locations-file ${path} is a directory, not a file`);
  }
  return readLocationsFile(path, `--locations-file ${path}`);
}
