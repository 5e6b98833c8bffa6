import { readFile } from "node:fs/promises";
import { createOAuthClient } from "../functions/core/auth/oauth-client.ts";
import { fileRefreshLease } from "../functions/core/auth/refresh-lease.ts";
import { fileStore } from "../functions/core/auth/secret-stores.ts";
import { type RefreshReport, refreshTokens } from "../functions/core/auth/token-refresher.ts";
import { type TokenSource, tokenSourceFromText } from "../functions/core/highlevel/token-source.ts";

export interface TokenFileOptions {
  /** HighLevel's origin, for minting and refreshing. */
  baseUrl: string;
  /** How often the refresher runs while the file is in use. Default every 5 minutes. */
  refreshEveryMs?: number;
  /** Refresh tokens that expire within this. Default 6 h, as the deployed refresher. */
  refreshWithinMs?: number;
  /** Told of every refresher run that failed a token. */
  onRefreshFailure?: (report: RefreshReport) => void;
}

/**
 * A token file (any secret shape: a PIT, a map, an OAuth set) for local runs: the worker's
 * token source reads it, and for an OAuth set a refresher renews it in the background, under a
 * lock file, exactly as the deployed refresher does with the secret.
 */
export function useTokenFile(path: string, options: TokenFileOptions) {
  let cached: string | undefined;
  const tokens: TokenSource = tokenSourceFromText(
    async (force) => {
      if (force || cached === undefined) cached = await readFile(path, "utf8");
      return cached;
    },
    { oauthBaseUrl: options.baseUrl },
  );
  const reports: RefreshReport[] = [];
  let running: Promise<unknown> = Promise.resolve();
  const refreshNow = async (): Promise<RefreshReport> => {
    const report = await refreshTokens({
      store: fileStore(path),
      lease: fileRefreshLease(path),
      oauth: (secret) => createOAuthClient({ baseUrl: options.baseUrl, ...secret }),
      ...(options.refreshWithinMs !== undefined && { refreshWithinMs: options.refreshWithinMs }),
    });
    reports.push(report);
    if (report.failed > 0) options.onRefreshFailure?.(report);
    return report;
  };
  const timer = setInterval(
    () => {
      running = running.then(refreshNow).catch(() => {});
    },
    options.refreshEveryMs ?? 5 * 60_000,
  );
  return {
    tokens,
    reports,
    refreshNow,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
