import { createHash } from "node:crypto";
import type { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";

/** Where the worker gets HighLevel tokens from. Tokens are cached per container. */
export interface TokenSource {
  /** The token to use for `locationId`. */
  tokenFor(locationId: string): Promise<string>;
  /** Drops the cache so the next `tokenFor` re-reads the token (after a 401/403). */
  refresh(): Promise<void>;
}

export class MissingTokenError extends Error {
  override name = "MissingTokenError";
}

/** A short, stable, non-reversible name for a token: safe for keys and logs. */
export function tokenFingerprint(token: string): string {
  return createHash("sha256").update(token).digest("hex").slice(0, 12);
}

/**
 * Reads a token secret: either a bare token, or a JSON map
 * `{"default": "...", "<locationId>": "..."}`.
 *
 * @example
 * tokenFromSecret('{"default":"pit-1","loc9":"pit-9"}', "loc9") // "pit-9"
 */
export function tokenFromSecret(secret: string, locationId: string): string {
  const trimmed = secret.trim();
  if (!trimmed.startsWith("{")) {
    if (!trimmed) throw new MissingTokenError("the token secret is empty");
    return trimmed;
  }
  let map: unknown;
  try {
    map = JSON.parse(trimmed);
  } catch {
    throw new MissingTokenError("the token secret starts with '{' but is not valid JSON");
  }
  const entries = map as Record<string, unknown>;
  const token = entries[locationId] ?? entries.default;
  if (typeof token !== "string" || !token.trim()) {
    throw new MissingTokenError(
      `the token secret has no entry for location ${locationId} and no "default" entry`,
    );
  }
  return token.trim();
}

/** A fixed token (HIGHLEVEL_TOKEN): local runs and tests. */
export function fixedTokenSource(token: string): TokenSource {
  return {
    tokenFor: async () => token,
    refresh: async () => {},
  };
}

/**
 * A token kept in Secrets Manager, read through Powertools' SecretsProvider (which caches it
 * for the life of the container) and re-read on demand. Concurrent refreshes share one read.
 */
export function secretTokenSource(
  provider: SecretsProvider | (() => Promise<Pick<SecretsProvider, "get">>),
  secretArn: string,
): TokenSource {
  const getProvider = typeof provider === "function" ? provider : async () => provider;
  const containerLifetimeSeconds = 24 * 60 * 60;
  let forceNextRead = false;
  let pendingRead: Promise<string> | undefined;

  const readSecret = () => {
    pendingRead ??= (async () => {
      try {
        const value = await (await getProvider()).get(secretArn, {
          maxAge: containerLifetimeSeconds,
          forceFetch: forceNextRead,
        });
        forceNextRead = false;
        if (typeof value !== "string") {
          throw new MissingTokenError("the token secret has no string value");
        }
        return value;
      } finally {
        pendingRead = undefined;
      }
    })();
    return pendingRead;
  };

  return {
    tokenFor: async (locationId) => tokenFromSecret(await readSecret(), locationId),
    refresh: async () => {
      forceNextRead = true;
    },
  };
}
