import * as v from "valibot";

/** One OAuth token pair and when its access token expires (ISO 8601). */
const TokenPairSchema = v.object({
  accessToken: v.pipe(v.string(), v.minLength(1, "must not be empty")),
  refreshToken: v.pipe(v.string(), v.minLength(1, "must not be empty")),
  expiresAt: v.pipe(v.string(), v.isoTimestamp("must be an ISO 8601 time")),
  /** When the refresher last renewed this pair (written by it; informational). */
  refreshedAt: v.optional(v.string()),
});

/**
 * A Marketplace app's token set (DESIGN.md, "Tokens"): installed at the agency (`company`:
 * location tokens are minted from it) and/or at locations (`locations`).
 */
export const OAuthSecretSchema = v.pipe(
  v.object({
    type: v.literal("oauth"),
    clientId: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    clientSecret: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    /** The Marketplace app's id: `installedLocations` needs it to list an agency's locations. */
    appId: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
    company: v.optional(v.object({ companyId: v.string(), ...TokenPairSchema.entries })),
    locations: v.optional(v.record(v.string(), TokenPairSchema)),
  }),
  v.check(
    (secret) => !!secret.company || Object.keys(secret.locations ?? {}).length > 0,
    "an oauth secret needs a company install or at least one location",
  ),
);

export type OAuthSecret = v.InferOutput<typeof OAuthSecretSchema>;
export type TokenPair = v.InferOutput<typeof TokenPairSchema>;

/** What a token secret holds: one token, tokens per location, or an OAuth token set. */
export type TokenSecret =
  | { kind: "token"; token: string }
  | { kind: "map"; tokens: Record<string, string> }
  | { kind: "oauth"; secret: OAuthSecret };

export class MissingTokenError extends Error {
  override name = "MissingTokenError";
}

/**
 * Reads the token secret's text. Errors name what is wrong, never a value.
 *
 * @example
 * parseTokenSecret("pit-123") // { kind: "token", token: "pit-123" }
 * parseTokenSecret('{"default":"pit-1","loc9":"pit-9"}') // { kind: "map", … }
 */
export function parseTokenSecret(text: string): TokenSecret {
  const trimmed = text.trim();
  if (!trimmed) throw new MissingTokenError("the token secret is empty");
  if (!trimmed.startsWith("{")) return { kind: "token", token: trimmed };
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    throw new MissingTokenError("the token secret starts with '{' but is not valid JSON");
  }
  const record = value as Record<string, unknown>;
  if (record.type === "oauth") {
    const parsed = v.safeParse(OAuthSecretSchema, value, { abortPipeEarly: true });
    if (!parsed.success) {
      const problems = parsed.issues.map((issue) => {
        const path = v.getDotPath(issue);
        return path ? `${path}: ${issue.message}` : issue.message;
      });
      throw new MissingTokenError(`the oauth token secret is malformed (${problems.join("; ")})`);
    }
    return { kind: "oauth", secret: parsed.output };
  }
  const tokens: Record<string, string> = {};
  for (const [key, token] of Object.entries(record)) {
    if (typeof token === "string" && token.trim()) tokens[key] = token.trim();
  }
  return { kind: "map", tokens };
}

/** The text to store for an OAuth secret (what `PutSecretValue` writes). */
export function serializeOAuthSecret(secret: OAuthSecret): string {
  return JSON.stringify(secret);
}
