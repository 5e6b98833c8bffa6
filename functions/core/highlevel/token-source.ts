import type { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import { createOAuthClient, type OAuthClient } from "../auth/oauth-client.ts";
import {
  MissingTokenError,
  type OAuthSecret,
  parseTokenSecret,
  type TokenSecret,
} from "../auth/token-secret.ts";

export { tokenFingerprint } from "./token-fingerprint.ts";
export { MissingTokenError };

/** Where the worker gets HighLevel tokens from. Tokens are cached per container. */
export interface TokenSource {
  /** The token to use for `locationId`. */
  tokenFor(locationId: string): Promise<string>;
  /** Drops the cache so the next `tokenFor` re-reads the token (after a 401/403). */
  refresh(): Promise<void>;
  /** True when the last secret read was an OAuth token set (the refresher renews it). */
  usesOAuth(): boolean;
  /** The secret itself, parsed (`purge --all-locations` lists its locations). */
  secret(): Promise<TokenSecret>;
}

/**
 * The secret's access token has expired (or will within a minute) and only the refresher may
 * renew it: the job waits for it (deferred), it is not the job's fault.
 */
export class TokenExpiredError extends Error {
  override name = "TokenExpiredError";
}

/** A location token minted from the agency's is used until this long before it expires. */
export const MINTED_TOKEN_MARGIN_MS = 5 * 60_000;
/** An access token this close to expiry is treated as expired (the refresher renews 6 h ahead). */
const EXPIRY_MARGIN_MS = 5_000;

/**
 * Reads a PIT secret: either a bare token, or a JSON map `{"default": "...", "<locationId>": "..."}`.
 * (OAuth secrets go through `secretTokenSource`, which may need HighLevel to mint a token.)
 *
 * @example
 * tokenFromSecret('{"default":"pit-1","loc9":"pit-9"}', "loc9") // "pit-9"
 */
export function tokenFromSecret(secret: string, locationId: string): string {
  const parsed = parseTokenSecret(secret);
  if (parsed.kind === "oauth") {
    const pair = parsed.secret.locations?.[locationId];
    if (!pair)
      throw new MissingTokenError(`the oauth token secret has no token for location ${locationId}`);
    return unexpired(pair.accessToken, pair.expiresAt, `location ${locationId}`);
  }
  return staticToken(parsed, locationId);
}

function staticToken(secret: Exclude<TokenSecret, { kind: "oauth" }>, locationId: string): string {
  if (secret.kind === "token") return secret.token;
  const token = secret.tokens[locationId] ?? secret.tokens.default;
  if (!token) {
    throw new MissingTokenError(
      `the token secret has no entry for location ${locationId} and no "default" entry`,
    );
  }
  return token;
}

function unexpired(token: string, expiresAt: string, which: string): string {
  if (Date.parse(expiresAt) - Date.now() < EXPIRY_MARGIN_MS) {
    throw new TokenExpiredError(
      `the access token of the ${which} expired at ${expiresAt}; the token refresher renews it`,
    );
  }
  return token;
}

/** A fixed token (HIGHLEVEL_TOKEN): local runs and tests. */
export function fixedTokenSource(token: string): TokenSource {
  return {
    tokenFor: async () => token,
    refresh: async () => {},
    usesOAuth: () => false,
    secret: async () => ({ kind: "token", token }),
  };
}

/**
 * Tokens from a secret's text, read by `read` (cached by the caller) and re-read after
 * `refresh()`: a PIT, a map of PITs, or an OAuth token set. For an agency install, location
 * tokens are minted with `POST /oauth/locationToken` and cached in this container until 5 min
 * before they expire; concurrent requests for one location share one mint.
 */
export function tokenSourceFromText(
  read: (force: boolean) => Promise<string>,
  options: { oauthBaseUrl: string; oauthClient?: (secret: OAuthSecret) => OAuthClient },
): TokenSource {
  let forceNextRead = false;
  let pendingRead: Promise<TokenSecret> | undefined;
  let oauth = false;
  const minted = new Map<string, Promise<{ token: string; expiresAt: number }>>();
  const makeClient =
    options.oauthClient ??
    ((secret: OAuthSecret) =>
      createOAuthClient({
        baseUrl: options.oauthBaseUrl,
        clientId: secret.clientId,
        clientSecret: secret.clientSecret,
      }));

  const readSecret = () => {
    pendingRead ??= (async () => {
      try {
        const force = forceNextRead;
        forceNextRead = false;
        const parsed = parseTokenSecret(await read(force));
        oauth = parsed.kind === "oauth";
        return parsed;
      } finally {
        pendingRead = undefined;
      }
    })();
    return pendingRead;
  };

  const mint = (secret: OAuthSecret, locationId: string) => {
    const company = secret.company;
    if (!company) {
      throw new MissingTokenError(`the oauth token secret has no token for location ${locationId}`);
    }
    const companyToken = unexpired(company.accessToken, company.expiresAt, "agency install");
    let pending = minted.get(locationId);
    if (!pending) {
      pending = (async () => {
        const answer = await makeClient(secret).locationToken(
          companyToken,
          company.companyId,
          locationId,
        );
        if (!answer.ok) {
          throw new MissingTokenError(
            `HighLevel would not mint a token for location ${locationId}: ${answer.detail}`,
          );
        }
        return { token: answer.token.accessToken, expiresAt: Date.parse(answer.token.expiresAt) };
      })();
      minted.set(locationId, pending);
      pending.catch(() => minted.delete(locationId));
    }
    return pending;
  };

  const tokenIn = async (secret: TokenSecret, locationId: string) => {
    if (secret.kind !== "oauth") return staticToken(secret, locationId);
    const pair = secret.secret.locations?.[locationId];
    if (pair) return unexpired(pair.accessToken, pair.expiresAt, `location ${locationId}`);
    const cached = await mint(secret.secret, locationId);
    if (cached.expiresAt - Date.now() > MINTED_TOKEN_MARGIN_MS) return cached.token;
    minted.delete(locationId);
    return (await mint(secret.secret, locationId)).token;
  };

  return {
    tokenFor: async (locationId) => {
      try {
        return await tokenIn(await readSecret(), locationId);
      } catch (error) {
        if (!(error instanceof TokenExpiredError)) throw error;
        // The cached copy is old: the refresher has most likely renewed it since. Look again once.
        forceNextRead = true;
        minted.clear();
        return tokenIn(await readSecret(), locationId);
      }
    },
    refresh: async () => {
      forceNextRead = true;
      minted.clear();
    },
    usesOAuth: () => oauth,
    secret: readSecret,
  };
}

/**
 * A token secret in Secrets Manager, read through Powertools' SecretsProvider (which caches it
 * for the life of the container) and re-read on demand.
 */
export function secretTokenSource(
  provider: SecretsProvider | (() => Promise<Pick<SecretsProvider, "get">>),
  secretArn: string,
  oauthBaseUrl = "https://services.leadconnectorhq.com",
): TokenSource {
  const getProvider = typeof provider === "function" ? provider : async () => provider;
  const containerLifetimeSeconds = 24 * 60 * 60;
  return tokenSourceFromText(
    async (force) => {
      const value = await (await getProvider()).get(secretArn, {
        maxAge: containerLifetimeSeconds,
        forceFetch: force,
      });
      if (typeof value !== "string") {
        throw new MissingTokenError("the token secret has no string value");
      }
      return value;
    },
    { oauthBaseUrl },
  );
}
