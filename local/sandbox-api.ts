import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { readText, sendJson } from "./http-json.ts";
import { FaultDice, RateWindows } from "./sandbox-limits.ts";
import { SandboxOAuth } from "./sandbox-oauth.ts";
import type {
  CsvStatus,
  RemovedPost,
  SandboxCall,
  SandboxOptions,
  SandboxPost,
  SandboxUpload,
  ScriptedAnswer,
} from "./sandbox-types.ts";

// The sandbox's types, for its callers: one module to import.
export type * from "./sandbox-types.ts";

/**
 * A stand-in for HighLevel's Social Planner CSV endpoints on 127.0.0.1: bearer-token and
 * `Version` checks, soft delete, the `X-RateLimit-*` headers with 429s, latency and faults.
 * It is a test double of a third-party API, used by the demo, the tests and the benchmarks.
 */

const UNDELETABLE: ReadonlySet<CsvStatus> = new Set(["importing", "in_progress"]);
const API_VERSION = "2021-07-28";

export class SandboxHighLevelApi {
  readonly calls: SandboxCall[] = [];
  readonly removedPosts: RemovedPost[] = [];
  /** The OAuth endpoints, when `oauth` was given. */
  readonly oauth: SandboxOAuth | undefined;
  readonly #options: SandboxOptions;
  readonly #uploads = new Map<string, Map<string, SandboxUpload>>();
  readonly #scripts = new Map<string, ScriptedAnswer[]>();
  readonly #listScripts = new Map<string, Array<ScriptedAnswer | "ok">>();
  readonly #windows: RateWindows;
  readonly #server: Server;
  readonly #stopping = new AbortController();
  readonly #faults: FaultDice;
  #nextId = 1;
  #baseUrl = "";

  constructor(options: SandboxOptions) {
    this.#options = options;
    this.oauth = options.oauth && new SandboxOAuth(options.oauth);
    this.#faults = new FaultDice(options.seed ?? 1, () => this.#options.faults);
    this.#windows = new RateWindows(() => this.#options);
    this.#server = createServer((request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        if (this.#stopping.signal.aborted) {
          response.destroy();
        } else if (!response.headersSent) {
          sendJson(response, 500, { statusCode: 500, message: String(error) });
        }
      });
    });
    // Node's default. HighLevel, behind its CDN, keeps idle connections far longer; a 1 s
    // timeout made every batch of a container open its connections again.
    this.#server.keepAliveTimeout = 5_000;
  }

  /** Starts listening on 127.0.0.1 (port 0: any free port) and returns the base URL. */
  async start(port = 0): Promise<string> {
    this.#server.listen(port, "127.0.0.1");
    await once(this.#server, "listening");
    const address = this.#server.address() as AddressInfo;
    this.#baseUrl = `http://127.0.0.1:${address.port}`;
    return this.#baseUrl;
  }

  get baseUrl(): string {
    return this.#baseUrl;
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * Adds an upload; returns it. Its posts are `posts` (dates, or whole posts), else `count`
   * (default 5) posts published when it was created.
   */
  addUpload(
    locationId: string,
    upload: Partial<Omit<SandboxUpload, "locationId" | "posts">> & {
      posts?: Array<string | Partial<SandboxPost>>;
    } = {},
  ): SandboxUpload {
    const id = upload._id ?? `csv${String(this.#nextId++).padStart(8, "0")}`;
    const createdAt = upload.createdAt ?? new Date().toISOString();
    const dates = upload.posts ?? Array.from({ length: upload.count ?? 5 }, () => createdAt);
    const posts = dates.map(
      (post, n): SandboxPost => ({
        _id: `${id}-post${n + 1}`,
        summary: `Post ${n + 1} of ${id}`,
        accountIds: ["sandboxAccount_1"],
        type: "post",
        ...(typeof post === "string"
          ? { scheduleDate: post }
          : { scheduleDate: createdAt, ...post }),
      }),
    );
    const created: SandboxUpload = {
      _id: id,
      locationId,
      fileName: upload.fileName ?? `posts-${id}.csv`,
      status: upload.status ?? "completed",
      createdAt,
      count: posts.length,
      posts,
    };
    let location = this.#uploads.get(locationId);
    if (!location) {
      location = new Map();
      this.#uploads.set(locationId, location);
    }
    location.set(created._id, created);
    return created;
  }

  upload(locationId: string, csvId: string): SandboxUpload | undefined {
    return this.#uploads.get(locationId)?.get(csvId);
  }

  uploads(locationId?: string): SandboxUpload[] {
    const locations = locationId ? [this.#uploads.get(locationId)] : [...this.#uploads.values()];
    return locations.flatMap((location) => (location ? [...location.values()] : []));
  }

  /** The next DELETEs of this upload answer these, in order, before it behaves normally. */
  /** The next answers to `GET …/:locationId/csv` (the listing): an HTTP status, or "ok" to serve it. */
  scriptListing(locationId: string, answers: Array<number | "ok">): void {
    this.#listScripts.set(locationId, [...answers]);
  }

  script(locationId: string, csvId: string, answers: ScriptedAnswer[]): void {
    this.#scripts.set(`${locationId}/${csvId}`, [...answers]);
  }

  setTokens(tokens: string[]): void {
    this.#options.tokens = tokens;
  }

  setBurst(burst: SandboxOptions["burst"]): void {
    this.#options.burst = burst;
    this.#windows.clear();
  }

  setFaults(faults: SandboxOptions["faults"]): void {
    this.#options.faults = faults;
  }

  /** Calls matching a method and (optionally) an upload. */
  callsTo(method: string, csvId?: string): SandboxCall[] {
    return this.calls.filter(
      (call) => call.method === method && (csvId === undefined || call.csvId === csvId),
    );
  }

  count(status: number | "reset"): number {
    return this.calls.filter((call) => call.status === status).length;
  }

  #latency(): number {
    const latency = this.#options.latencyMs;
    if (latency === undefined || typeof latency === "number") return latency ?? 0;
    return latency.min + this.#faults.random() * (latency.max - latency.min);
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://sandbox");
    const match = /^\/social-media-posting\/([^/]+)\/csv(?:\/([^/]+))?\/?$/.exec(url.pathname);
    const locationId = match?.[1] && decodeURIComponent(match[1]);
    const csvId = match?.[2] && decodeURIComponent(match[2]);
    const method = request.method ?? "GET";
    const call: SandboxCall = {
      method,
      path: url.pathname + url.search,
      locationId,
      csvId,
      status: 0,
      headers: Object.fromEntries(
        Object.entries(request.headers).map(([name, value]) => [name, String(value)]),
      ),
      at: Date.now(),
    };
    this.calls.push(call);
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      call.answeredAt = Date.now();
      sendJson(response, status, body, headers);
    };

    const latencyMs = this.#latency();
    if (latencyMs > 0) {
      await sleep(latencyMs, undefined, { signal: this.#stopping.signal });
    }
    if (this.oauth && url.pathname.startsWith("/oauth/")) {
      // A GET's parameters are its query; a POST's its form body.
      const form =
        method === "GET" ? url.searchParams : new URLSearchParams(await readText(request));
      const result = this.oauth.handle(method, url.pathname, form, request.headers.authorization);
      return answer(result.status, result.body);
    }
    if (!match || !locationId || (method !== "DELETE" && method !== "GET")) {
      return answer(404, { statusCode: 404, message: `Cannot ${method} ${url.pathname}` });
    }
    const token = /^Bearer (.+)$/.exec(request.headers.authorization ?? "")?.[1];
    const oauthToken = token && this.oauth?.accepts(token, locationId);
    if (!token || (!this.#options.tokens.includes(token) && oauthToken !== "ok")) {
      return answer(401, {
        statusCode: 401,
        message:
          oauthToken === "expired"
            ? "Invalid token: access token has expired"
            : "Invalid token: access token is invalid",
        error: "Unauthorized",
      });
    }
    if (this.oauth?.isInactive(locationId)) {
      return answer(401, {
        statusCode: 401,
        message: "Location is not active",
        error: "Unauthorized",
      });
    }
    const rate = this.#windows.spend(`${token}|${locationId}`);
    if (request.headers.version !== (this.#options.apiVersion ?? API_VERSION)) {
      return answer(
        400,
        { statusCode: 400, message: "Version header is missing or invalid" },
        rate.headers,
      );
    }
    if (rate.limited) {
      return answer(429, { statusCode: 429, message: "Too many requests" }, rate.headers);
    }

    if (method === "DELETE" && csvId) {
      const scripted = this.#scripts.get(`${locationId}/${csvId}`)?.shift();
      const fault = scripted ?? this.#faults.roll();
      if (fault === "reset") {
        call.status = "reset";
        request.socket.destroy();
        return;
      }
      if (typeof fault === "number") {
        return answer(fault, { statusCode: fault, message: `Injected ${fault}` }, rate.headers);
      }
      if (typeof fault === "object") {
        return answer(fault.status, fault.body, rate.headers);
      }
      const result = this.#delete(locationId, csvId);
      if (fault === "slow") {
        await sleep(this.#options.slowMs ?? 15_000, undefined, { signal: this.#stopping.signal });
      }
      return answer(result.status, result.body, rate.headers);
    }
    if (!csvId) {
      const scripted = this.#listScripts.get(locationId)?.shift();
      if (typeof scripted === "number") {
        return answer(
          scripted,
          { statusCode: scripted, message: `Injected ${scripted}` },
          rate.headers,
        );
      }
    }
    const skip = Math.max(0, Number(url.searchParams.get("skip") ?? 0) || 0);
    const limit = Math.min(100, Math.max(1, Number(url.searchParams.get("limit") ?? 10) || 10));
    if (csvId) {
      const upload = this.upload(locationId, csvId);
      if (!upload) return answer(404, { statusCode: 404, message: "CSV not found" }, rate.headers);
      const { posts, ...csv } = upload;
      return answer(
        200,
        {
          success: true,
          statusCode: 200,
          results: { csv, count: posts.length, posts: posts.slice(skip, skip + limit) },
        },
        rate.headers,
      );
    }
    const all = this.uploads(locationId).map(({ posts: _, ...csv }) => csv);
    return answer(
      200,
      {
        success: true,
        statusCode: 200,
        results: { csvs: all.slice(skip, skip + limit), count: all.length },
      },
      rate.headers,
    );
  }

  #delete(locationId: string, csvId: string): { status: number; body: unknown } {
    const upload = this.upload(locationId, csvId);
    if (!upload) {
      return { status: 404, body: { statusCode: 404, message: "CSV not found" } };
    }
    if (upload.status === "deleted") {
      const status = this.#options.softDeletedStatus ?? 400;
      return status === 400
        ? { status, body: { statusCode: 400, message: "Bad Request" } }
        : {
            status,
            body: {
              statusCode: 422,
              message: ["CSV is already deleted"],
              error: "Unprocessable Entity",
            },
          };
    }
    if (UNDELETABLE.has(upload.status)) {
      return {
        status: 422,
        body: {
          statusCode: 422,
          message: [`CSV is ${upload.status} and cannot be deleted`],
          error: "Unprocessable Entity",
        },
      };
    }
    const before = { ...upload };
    upload.status = "deleted";
    const removedAt = Date.now();
    for (const post of upload.posts) {
      this.removedPosts.push({ ...post, locationId, csvId, removedAt });
    }
    upload.posts = [];
    return {
      status: 200,
      body: {
        success: true,
        statusCode: 200,
        message: "Deleted Post",
        results: {
          csv: {
            locationId,
            fileName: before.fileName,
            accountIds: [],
            file: before.fileName,
            status: before.status,
            count: before.count,
            createdBy: "sandbox",
            traceId: csvId,
            originId: csvId,
            approver: "sandbox",
          },
        },
      },
    };
  }
}
