import type { InstalledLocationsPage } from "../auth/oauth-client.ts";
import type { OAuthSecret, TokenSecret } from "../auth/token-secret.ts";
import { HIGHLEVEL_ID_PATTERN } from "./deletion-job.ts";

/** `--all-locations` with one bare token: it names no location, and cannot list any. */
export class LocationsNotListableError extends Error {
  override name = "LocationsNotListableError";
}

/** What lists an agency's installs: the OAuth client's `installedLocations`. */
export type ListInstalled = (
  companyAccessToken: string,
  query: { companyId: string; appId: string; skip: number; limit: number },
) => Promise<InstalledLocationsPage>;

export interface DiscoveredLocations {
  locationIds: string[];
  /** Where they came from: the token map's keys, the OAuth set's locations, the agency's installs. */
  from: { tokenMap: number; oauthLocations: number; agencyInstalls: number };
  /** Locations HighLevel listed as not installed (`isInstalled: false`): left out. */
  notInstalled: number;
}

/** Locations per `installedLocations` page (HighLevel's default is 20). */
export const INSTALLED_PAGE_SIZE = 100;

/**
 * Every location the token secret reaches (DESIGN.md "Purge policy", `locationIds: "all"`):
 * a token map's keys (not `default`); an OAuth set's `locations`, plus, for an agency install,
 * every location where the app is installed (`GET /oauth/installedLocations`, paged until its
 * `count`). A bare token lists nothing: `LocationsNotListableError`.
 *
 * @example
 * const { locationIds } = await locationsOfSecret(await tokens.secret(), { listInstalled });
 */
export async function locationsOfSecret(
  secret: TokenSecret,
  options: { listInstalled?: (secret: OAuthSecret) => ListInstalled; appId?: string; now?: number },
): Promise<DiscoveredLocations> {
  const found: DiscoveredLocations = {
    locationIds: [],
    from: { tokenMap: 0, oauthLocations: 0, agencyInstalls: 0 },
    notInstalled: 0,
  };
  const seen = new Set<string>();
  const add = (id: string, source: keyof DiscoveredLocations["from"]) => {
    if (seen.has(id) || !HIGHLEVEL_ID_PATTERN.test(id)) return;
    seen.add(id);
    found.locationIds.push(id);
    found.from[source] += 1;
  };
  if (secret.kind === "token") {
    throw new LocationsNotListableError(
      "one token does not list locations: name them with -l or --locations-file, or use a token map or an OAuth secret",
    );
  }
  if (secret.kind === "map") {
    for (const id of Object.keys(secret.tokens)) if (id !== "default") add(id, "tokenMap");
    return found;
  }
  for (const id of Object.keys(secret.secret.locations ?? {})) add(id, "oauthLocations");
  const company = secret.secret.company;
  if (!company) return found;
  const appId = options.appId ?? secret.secret.appId;
  if (!appId) {
    throw new LocationsNotListableError(
      "the OAuth secret has an agency install but no appId: give --app-id (or run auth connect again, which records it)",
    );
  }
  if (Date.parse(company.expiresAt) <= (options.now ?? Date.now())) {
    throw new LocationsNotListableError(
      `the agency token expired at ${company.expiresAt}: run \`ghl-csv-purge auth refresh\` first`,
    );
  }
  if (!options.listInstalled) throw new Error("listing an agency's installs needs listInstalled");
  const list = options.listInstalled(secret.secret);
  for (let skip = 0; ; skip += INSTALLED_PAGE_SIZE) {
    const page = await list(company.accessToken, {
      companyId: company.companyId,
      appId,
      skip,
      limit: INSTALLED_PAGE_SIZE,
    });
    if (!page.ok) {
      throw new LocationsNotListableError(`the agency's installed locations: ${page.detail}`);
    }
    for (const location of page.locations) {
      if (location.installed) add(location.id, "agencyInstalls");
      else found.notInstalled += 1;
    }
    const listed = skip + page.locations.length;
    const reachedEnd =
      page.locations.length < INSTALLED_PAGE_SIZE ||
      (page.count !== undefined && listed >= page.count);
    if (reachedEnd) break;
  }
  return found;
}
