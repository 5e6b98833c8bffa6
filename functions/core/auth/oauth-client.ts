import ky from "ky";
import { clip, redact } from "../detail.ts";
import { parseAnswerBody, readAnswerBody } from "../highlevel/answer-body.ts";
import { HIGHLEVEL_API_VERSION } from "../highlevel/api-version.ts";

/** A new token pair from `POST /oauth/token`, or a location token from `/oauth/locationToken`. */
export interface IssuedToken {
  accessToken: string;
  /** Absent for location tokens minted from an agency token. */
  refreshToken: string | undefined;
  expiresAt: string;
}

export type OAuthResult =
  | {
      ok: true;
      token: IssuedToken;
      /** Where the app is installed, as HighLevel's answer says. */
      install: { companyId: string | undefined; locationId: string | undefined };
    }
  /**
   * `invalid-grant`: the refresh token (or code) is spent or revoked: only a new authorization
   * helps. `inactive`: HighLevel says the location is paused; its refresh token stays valid.
   * `failed`: anything else (network, 5xx, an answer that is not HighLevel's).
   */
  | { ok: false; kind: "invalid-grant" | "inactive" | "failed"; detail: string };

/** One page of `GET /oauth/installedLocations`. */
export type InstalledLocationsPage =
  | {
      ok: true;
      locations: Array<{ id: string; name?: string; installed: boolean }>;
      /** The total HighLevel says there is, when it says. */
      count?: number;
    }
  | { ok: false; status?: number; detail: string };

export interface OAuthClientOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  timeoutMs?: number;
}

/**
 * HighLevel's OAuth endpoints. Never throws for an HTTP or network failure; never puts a
 * token or the client secret in what it returns.
 *
 * @example
 * const oauth = createOAuthClient({ baseUrl, clientId, clientSecret });
 * const result = await oauth.refresh(refreshToken, "Location");
 */
export function createOAuthClient(options: OAuthClientOptions) {
  const secrets = (extra: string[] = []) => [options.clientSecret, ...extra];
  const timeout = options.timeoutMs ?? 15_000;

  /**
   * One call to an OAuth endpoint: never retried, never redirected, the answer read within the
   * timeout and capped; a network failure becomes a `detail` with the secrets in `hide` redacted.
   */
  const exchange = async (
    request: { method: "get" | "post"; path: string; authorization?: string } & (
      | { form: Record<string, string> }
      | { query: Record<string, string> }
    ),
    hide: string[],
  ): Promise<
    | { answered: true; status: number; ok: boolean; body: Record<string, unknown> | null }
    | { answered: false; detail: string }
  > => {
    const deadline = Date.now() + timeout;
    try {
      const response = await ky(request.path, {
        method: request.method,
        prefix: options.baseUrl,
        ...("form" in request
          ? { body: new URLSearchParams(request.form) }
          : { searchParams: request.query }),
        headers: {
          Accept: "application/json",
          Version: HIGHLEVEL_API_VERSION,
          ...(request.authorization && { Authorization: `Bearer ${request.authorization}` }),
        },
        retry: 0,
        throwHttpErrors: false,
        redirect: "manual",
        timeout,
      });
      const body = parseAnswerBody(await readAnswerBody(response, deadline)) as Record<
        string,
        unknown
      > | null;
      return { answered: true, status: response.status, ok: response.ok, body };
    } catch (error) {
      return {
        answered: false,
        detail: safeDetail(
          error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          hide,
        ),
      };
    }
  };

  const post = async (
    path: string,
    form: Record<string, string>,
    hide: string[],
    authorization?: string,
  ): Promise<OAuthResult> => {
    const answer = await exchange(
      { method: "post", path, form, ...(authorization && { authorization }) },
      hide,
    );
    if (!answer.answered) return { ok: false, kind: "failed", detail: answer.detail };
    const { body, status } = answer;
    const said = String(body?.error_description ?? body?.message ?? "");
    if (answer.ok && typeof body?.access_token === "string") {
      const seconds = Number(body.expires_in);
      return {
        ok: true,
        token: {
          accessToken: body.access_token,
          refreshToken: typeof body.refresh_token === "string" ? body.refresh_token : undefined,
          expiresAt: new Date(
            Date.now() + (Number.isFinite(seconds) && seconds > 0 ? seconds : 86_399) * 1000,
          ).toISOString(),
        },
        install: {
          companyId: typeof body.companyId === "string" ? body.companyId : undefined,
          locationId: typeof body.locationId === "string" ? body.locationId : undefined,
        },
      };
    }
    if (/location is not active/i.test(said)) {
      return { ok: false, kind: "inactive", detail: safeDetail(`HighLevel: ${said}`, hide) };
    }
    if (status === 400 && (body?.error === "invalid_grant" || /invalid grant/i.test(said))) {
      return {
        ok: false,
        kind: "invalid-grant",
        detail: safeDetail(`HighLevel answered 400: ${said}`, hide),
      };
    }
    return {
      ok: false,
      kind: "failed",
      detail: safeDetail(`HighLevel answered ${status}${said ? `: ${said}` : ""}`, hide),
    };
  };

  /** `GET /oauth/installedLocations`: one page of the locations where the app is installed. */
  const installedLocations = async (
    companyAccessToken: string,
    query: { companyId: string; appId: string; skip: number; limit: number },
  ): Promise<InstalledLocationsPage> => {
    const hide = secrets([companyAccessToken]);
    const answer = await exchange(
      {
        method: "get",
        path: "oauth/installedLocations",
        authorization: companyAccessToken,
        query: {
          companyId: query.companyId,
          appId: query.appId,
          isInstalled: "true",
          skip: String(query.skip),
          limit: String(query.limit),
        },
      },
      hide,
    );
    if (!answer.answered) return { ok: false, detail: answer.detail };
    const { body, status } = answer;
    if (answer.ok && Array.isArray(body?.locations)) {
      const locations = (body.locations as Array<Record<string, unknown>>).flatMap((entry) =>
        typeof entry?._id === "string"
          ? [
              {
                id: entry._id,
                ...(typeof entry.name === "string" && { name: entry.name }),
                installed: entry.isInstalled !== false,
              },
            ]
          : [],
      );
      const count = Number(body.count);
      return { ok: true, locations, ...(Number.isFinite(count) && { count }) };
    }
    const said = String(body?.message ?? body?.error ?? "");
    return {
      ok: false,
      status,
      detail: safeDetail(
        `HighLevel answered ${status} to installedLocations${said ? `: ${said}` : ""}`,
        hide,
      ),
    };
  };

  return {
    installedLocations,
    /** Trades a (single-use) refresh token for a new pair. */
    refresh: (refreshToken: string, userType: "Company" | "Location") =>
      post(
        "oauth/token",
        {
          client_id: options.clientId,
          client_secret: options.clientSecret,
          grant_type: "refresh_token",
          refresh_token: refreshToken,
          user_type: userType,
        },
        secrets([refreshToken]),
      ),
    /** Trades an authorization code (from installing the app) for the first pair. */
    exchangeCode: (code: string, userType: "Company" | "Location", redirectUri?: string) =>
      post(
        "oauth/token",
        {
          client_id: options.clientId,
          client_secret: options.clientSecret,
          grant_type: "authorization_code",
          code,
          user_type: userType,
          ...(redirectUri && { redirect_uri: redirectUri }),
        },
        secrets([code]),
      ),
    /** Mints a location access token from the agency's. */
    locationToken: (companyAccessToken: string, companyId: string, locationId: string) =>
      post(
        "oauth/locationToken",
        { companyId, locationId },
        secrets([companyAccessToken]),
        companyAccessToken,
      ),
  };
}

export type OAuthClient = ReturnType<typeof createOAuthClient>;

/** Every secret in `hide` replaced, then cut to 1 KiB. */
function safeDetail(text: string, hide: string[]): string {
  return clip(redact(text, ...hide));
}
