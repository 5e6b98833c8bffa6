import { randomBytes } from "node:crypto";

/**
 * HighLevel's OAuth endpoints as the sandbox plays them: `POST /oauth/token` (refresh and
 * authorization-code grants, **single-use** refresh tokens), `POST /oauth/locationToken`
 * (a location token minted from an agency token) and `GET /oauth/installedLocations`. Access
 * tokens expire after `accessTokenLifetimeMs`; the CSV routes accept only unexpired ones.
 */
export interface SandboxOAuthOptions {
  clientId: string;
  clientSecret: string;
  /** How long an access token lives; HighLevel's is ~24 h. */
  accessTokenLifetimeMs?: number;
  /** The app's id: `installedLocations` answers 400 to any other `appId` when set. */
  appId?: string;
}

interface IssuedAccess {
  expiresAt: number;
  userType: "Company" | "Location";
  companyId?: string;
  locationId?: string;
}

interface IssuedRefresh {
  userType: "Company" | "Location";
  companyId?: string;
  locationId?: string;
  used: boolean;
  revoked: boolean;
}

export interface IssuedPair {
  accessToken: string;
  refreshToken: string;
  expiresAt: string;
}

export interface OAuthAnswer {
  status: number;
  body: unknown;
}

export class SandboxOAuth {
  readonly #options: SandboxOAuthOptions;
  readonly #access = new Map<string, IssuedAccess>();
  readonly #refresh = new Map<string, IssuedRefresh>();
  readonly #codes = new Map<string, Omit<IssuedRefresh, "used" | "revoked">>();
  readonly #installedAt = new Map<string, Set<string>>();
  /** Locations an agency's install was removed from: listed with `isInstalled: false`. */
  readonly #uninstalledAt = new Map<string, Set<string>>();
  /** `GET /oauth/installedLocations` calls (paging tests count them). */
  installedLocationsCalls = 0;
  readonly #inactive = new Set<string>();
  /** `POST /oauth/token` calls per refresh token presented (the race test counts them). */
  readonly refreshCalls = new Map<string, number>();
  tokenCalls = 0;
  locationTokenCalls = 0;

  constructor(options: SandboxOAuthOptions) {
    this.#options = options;
  }

  /** Installs the app at a location; returns its first token pair. */
  installAtLocation(locationId: string): IssuedPair {
    return this.#issue({ userType: "Location", locationId });
  }

  /** Installs the app at an agency for these locations; returns the agency's token pair. */
  installAtCompany(companyId: string, locationIds: string[]): IssuedPair {
    this.#installedAt.set(companyId, new Set(locationIds));
    return this.#issue({ userType: "Company", companyId });
  }

  /** Removes the app from one of an agency's locations (it stays listed, `isInstalled: false`). */
  uninstallAt(companyId: string, locationId: string): void {
    this.#installedAt.get(companyId)?.delete(locationId);
    const removed = this.#uninstalledAt.get(companyId) ?? new Set<string>();
    removed.add(locationId);
    this.#uninstalledAt.set(companyId, removed);
  }

  /** An authorization code, as HighLevel's redirect after installing would carry. */
  authorizationCode(install: {
    userType: "Company" | "Location";
    companyId?: string;
    locationId?: string;
  }): string {
    const code = `code-${randomBytes(8).toString("hex")}`;
    this.#codes.set(code, install);
    return code;
  }

  /** Revokes a refresh token (an uninstall, or a token leaked and rotated by the user). */
  revoke(refreshToken: string): void {
    const issued = this.#refresh.get(refreshToken);
    if (issued) issued.revoked = true;
  }

  /** A paused SaaS location: its calls answer 400 "Location is not active". */
  deactivate(locationId: string): void {
    this.#inactive.add(locationId);
  }

  isInactive(locationId: string): boolean {
    return this.#inactive.has(locationId);
  }

  /** Whether `token` is an unexpired location access token for `locationId`. */
  accepts(token: string, locationId: string): "ok" | "expired" | "unknown" {
    const access = this.#access.get(token);
    if (!access) return "unknown";
    if (access.expiresAt <= Date.now()) return "expired";
    return access.userType === "Location" && access.locationId === locationId ? "ok" : "unknown";
  }

  /** Answers a request under `/oauth/`. */
  handle(
    method: string,
    path: string,
    form: URLSearchParams,
    authorization: string | undefined,
  ): OAuthAnswer {
    if (method === "POST" && path === "/oauth/token") return this.#token(form);
    if (method === "POST" && path === "/oauth/locationToken") {
      return this.#locationToken(form, authorization);
    }
    if (method === "GET" && path === "/oauth/installedLocations") {
      return this.#installedLocations(form, authorization);
    }
    return { status: 404, body: { statusCode: 404, message: `Cannot ${method} ${path}` } };
  }

  /** HighLevel's paging: `skip`, `limit` (default 20), `isInstalled`, `count` of all that match. */
  #installedLocations(query: URLSearchParams, authorization: string | undefined): OAuthAnswer {
    this.installedLocationsCalls += 1;
    const company = this.#bearer(authorization, "Company");
    if (!company) return unauthorized();
    const companyId = company.companyId ?? "";
    if (query.get("companyId") !== companyId) {
      return {
        status: 400,
        body: { statusCode: 400, message: "companyId does not match the token" },
      };
    }
    if (this.#options.appId && query.get("appId") !== this.#options.appId) {
      return { status: 400, body: { statusCode: 400, message: "appId is invalid" } };
    }
    const installed = [...(this.#installedAt.get(companyId) ?? [])].map((_id) => ({
      _id,
      name: `Sub-account ${_id}`,
      isInstalled: true,
    }));
    const removed = [...(this.#uninstalledAt.get(companyId) ?? [])].map((_id) => ({
      _id,
      name: `Sub-account ${_id}`,
      isInstalled: false,
    }));
    const wanted = query.get("isInstalled");
    const all =
      wanted === "true" ? installed : wanted === "false" ? removed : [...installed, ...removed];
    const skip = Math.max(0, Number(query.get("skip") ?? 0) || 0);
    const limit = Math.min(100, Math.max(1, Number(query.get("limit") ?? 20) || 20));
    return {
      status: 200,
      body: { locations: all.slice(skip, skip + limit), count: all.length },
    };
  }

  #token(form: URLSearchParams): OAuthAnswer {
    this.tokenCalls += 1;
    if (
      form.get("client_id") !== this.#options.clientId ||
      form.get("client_secret") !== this.#options.clientSecret
    ) {
      return invalidGrant("Invalid client credentials");
    }
    const grant = form.get("grant_type");
    if (grant === "refresh_token") {
      const presented = form.get("refresh_token") ?? "";
      this.refreshCalls.set(presented, (this.refreshCalls.get(presented) ?? 0) + 1);
      const issued = this.#refresh.get(presented);
      if (!issued || issued.used || issued.revoked) {
        return invalidGrant("Invalid grant: refresh token is invalid");
      }
      if (issued.locationId && this.#inactive.has(issued.locationId)) {
        return {
          status: 400,
          body: { error: "invalid_request", error_description: "Location is not active" },
        };
      }
      issued.used = true;
      return { status: 200, body: this.#tokenBody(this.#issue(issued), issued) };
    }
    if (grant === "authorization_code") {
      const install = this.#codes.get(form.get("code") ?? "");
      if (!install) return invalidGrant("Invalid grant: authorization code is invalid");
      this.#codes.delete(form.get("code") ?? "");
      return { status: 200, body: this.#tokenBody(this.#issue(install), install) };
    }
    return invalidGrant(`unsupported grant_type ${grant ?? "(none)"}`);
  }

  #locationToken(form: URLSearchParams, authorization: string | undefined): OAuthAnswer {
    this.locationTokenCalls += 1;
    const company = this.#bearer(authorization, "Company");
    if (!company) return unauthorized();
    const locationId = form.get("locationId") ?? "";
    if (form.get("companyId") !== company.companyId) {
      return {
        status: 400,
        body: { statusCode: 400, message: "companyId does not match the token" },
      };
    }
    if (!this.#installedAt.get(company.companyId ?? "")?.has(locationId)) {
      return {
        status: 400,
        body: { statusCode: 400, message: "The app is not installed at this location" },
      };
    }
    const accessToken = this.#newAccess({
      userType: "Location",
      locationId,
      companyId: company.companyId,
    });
    return {
      status: 200,
      body: {
        access_token: accessToken.token,
        token_type: "Bearer",
        expires_in: Math.floor(this.#lifetime() / 1000),
        scope: "socialplanner/csv.readonly socialplanner/csv.write",
        userType: "Location",
        locationId,
        companyId: company.companyId,
      },
    };
  }

  #bearer(authorization: string | undefined, userType: IssuedAccess["userType"]) {
    const token = /^Bearer (.+)$/.exec(authorization ?? "")?.[1];
    const access = token ? this.#access.get(token) : undefined;
    if (!access || access.expiresAt <= Date.now() || access.userType !== userType) return undefined;
    return access;
  }

  #issue(install: Omit<IssuedRefresh, "used" | "revoked">): IssuedPair {
    const { token, expiresAt } = this.#newAccess(install);
    const refreshToken = `sandbox-refresh-${randomBytes(12).toString("hex")}`;
    this.#refresh.set(refreshToken, { ...pick(install), used: false, revoked: false });
    return { accessToken: token, refreshToken, expiresAt: new Date(expiresAt).toISOString() };
  }

  #newAccess(install: Omit<IssuedAccess, "expiresAt">) {
    const token = `sandbox-access-${randomBytes(12).toString("hex")}`;
    const expiresAt = Date.now() + this.#lifetime();
    this.#access.set(token, { ...pick(install), expiresAt });
    return { token, expiresAt };
  }

  #lifetime(): number {
    return this.#options.accessTokenLifetimeMs ?? 86_399_000;
  }

  #tokenBody(pair: IssuedPair, install: Omit<IssuedRefresh, "used" | "revoked">) {
    return {
      access_token: pair.accessToken,
      token_type: "Bearer",
      expires_in: Math.floor(this.#lifetime() / 1000),
      refresh_token: pair.refreshToken,
      scope: "socialplanner/csv.readonly socialplanner/csv.write",
      userType: install.userType,
      ...(install.companyId && { companyId: install.companyId }),
      ...(install.locationId && { locationId: install.locationId }),
    };
  }
}

function pick(install: {
  userType: "Company" | "Location";
  companyId?: string;
  locationId?: string;
}) {
  return {
    userType: install.userType,
    ...(install.companyId && { companyId: install.companyId }),
    ...(install.locationId && { locationId: install.locationId }),
  };
}

function invalidGrant(description: string): OAuthAnswer {
  return { status: 400, body: { error: "invalid_grant", error_description: description } };
}

function unauthorized(): OAuthAnswer {
  return {
    status: 401,
    body: {
      statusCode: 401,
      message: "Invalid token: access token is invalid",
      error: "Unauthorized",
    },
  };
}
