import { randomUUID } from "node:crypto";
import type { OAuthClient } from "./oauth-client.ts";
import type { RefreshLease } from "./refresh-lease.ts";
import {
  type OAuthSecret,
  parseTokenSecret,
  serializeOAuthSecret,
  type TokenPair,
} from "./token-secret.ts";

/** Where the token set lives: a Secrets Manager secret, or a file for local runs. */
export interface SecretStore {
  read(): Promise<string>;
  write(text: string): Promise<void>;
}

/** Tokens that expire within this are refreshed (HighLevel's live ~24 h; the schedule is hourly). */
export const REFRESH_WITHIN_MS = 6 * 3600_000;
/** The lease is held at most this long; work that would outlast it is left to the next run. */
export const LEASE_MS = 2 * 60_000;
/** No refresh is started with less than this left on the lease. */
const LEASE_MARGIN_MS = 20_000;

export interface RefreshOutcome {
  /** Which token: "company" or "location <id>". */
  which: string;
  result: "refreshed" | "invalid-grant" | "inactive" | "failed" | "not-due" | "out-of-time";
  expiresAt: string;
  detail?: string;
}

export interface RefreshReport {
  /** Another refresher held the lease: this run did nothing. */
  leaseHeld: boolean;
  /** The secret is a PIT or a map of PITs: nothing to refresh. */
  notOAuth: boolean;
  outcomes: RefreshOutcome[];
  refreshed: number;
  failed: number;
}

export interface RefresherDeps {
  store: SecretStore;
  lease: RefreshLease;
  oauth: (secret: Pick<OAuthSecret, "clientId" | "clientSecret">) => OAuthClient;
  now?: () => number;
  refreshWithinMs?: number;
}

/**
 * Refreshes every token of an OAuth secret that expires within 6 h, under the refresh lease.
 * HighLevel's refresh tokens are single-use, so the secret is read only after the lease is
 * taken, and written after each refresh (a crash after a refresh loses at most that pair).
 * Another refresher holding the lease makes this one a no-op.
 *
 * @example
 * const report = await refreshTokens({ store, lease, oauth: (s) => createOAuthClient({ baseUrl, ...s }) });
 */
export async function refreshTokens(deps: RefresherDeps): Promise<RefreshReport> {
  const now = deps.now ?? Date.now;
  const report: RefreshReport = {
    leaseHeld: false,
    notOAuth: false,
    outcomes: [],
    refreshed: 0,
    failed: 0,
  };
  const owner = randomUUID();
  const leaseEnds = now() + LEASE_MS;
  if (!(await deps.lease.take(owner, LEASE_MS))) {
    report.leaseHeld = true;
    return report;
  }
  try {
    const parsed = parseTokenSecret(await deps.store.read());
    if (parsed.kind !== "oauth") {
      report.notOAuth = true;
      return report;
    }
    const secret: OAuthSecret = structuredClone(parsed.secret);
    const client = deps.oauth(secret);
    const within = deps.refreshWithinMs ?? REFRESH_WITHIN_MS;
    const pairs: Array<{ which: string; userType: "Company" | "Location"; pair: TokenPair }> = [
      ...(secret.company
        ? [{ which: "company", userType: "Company" as const, pair: secret.company }]
        : []),
      ...Object.entries(secret.locations ?? {}).map(([locationId, pair]) => ({
        which: `location ${locationId}`,
        userType: "Location" as const,
        pair,
      })),
    ];
    for (const { which, userType, pair } of pairs) {
      const outcome = (result: RefreshOutcome["result"], detail?: string): void => {
        report.outcomes.push({
          which,
          result,
          expiresAt: pair.expiresAt,
          ...(detail && { detail }),
        });
      };
      if (Date.parse(pair.expiresAt) - now() > within) {
        outcome("not-due");
        continue;
      }
      if (leaseEnds - now() < LEASE_MARGIN_MS) {
        outcome("out-of-time", "the lease would run out first; the next run takes it");
        continue;
      }
      const answer = await client.refresh(pair.refreshToken, userType);
      if (!answer.ok) {
        // `inactive`: the location is paused; its refresh token was not spent and stays.
        if (answer.kind !== "inactive") report.failed += 1;
        outcome(answer.kind, answer.detail);
        continue;
      }
      pair.accessToken = answer.token.accessToken;
      pair.refreshToken = answer.token.refreshToken ?? pair.refreshToken;
      pair.expiresAt = answer.token.expiresAt;
      pair.refreshedAt = new Date(now()).toISOString();
      // The old refresh token is spent now: store the new pair before anything else can fail.
      await deps.store.write(serializeOAuthSecret(secret));
      report.refreshed += 1;
      outcome("refreshed");
    }
    return report;
  } finally {
    await deps.lease.release(owner);
  }
}
