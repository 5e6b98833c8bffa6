/** Raised at cold start when the worker's environment is missing or malformed; names the variable. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.variable = variable;
  }
}

export type TokenSetting =
  | { source: "secret"; secretArn: string }
  | { source: "env"; token: string };

/** Everything the worker reads from its environment (DESIGN.md's configuration table). */
export interface WorkerConfig extends PlannerConfig {
  deadLetterQueueUrl: string;
  maxReceiveCount: number;
  /** HighLevel calls in flight at once in this container; jobs waiting for a slot hold none. */
  workerConcurrency: number;
  maxDeferrals: number;
  /**
   * The longest a job waits for its location's slot (a timer, not a lane), and the horizon of
   * what an invocation keeps of one location: jobs its budget cannot serve within it are
   * handed back to the queue (fairness across locations, and no invocation held open by one).
   */
  budgetWaitMs: number;
  /** Where each invocation writes its settled jobs' results (`runs/<runId>/results/`); none → no results. */
  reportBucket: string | undefined;
  s3Endpoint: string | undefined;
  /** How long run records are kept (their TTL), as the bucket's lifecycle keeps results. */
  reportRetentionDays: number;
  /** Write run records and results (RUN_RECORDS, default on); off only to compare or save. */
  runRecords: boolean;
}

export const WORKER_DEFAULTS = {
  highLevelBaseUrl: "https://services.leadconnectorhq.com",
  highLevelApiVersion: "2021-07-28",
  maxReceiveCount: 5,
  maxAttempts: 3,
  requestTimeoutMs: 10_000,
  workerConcurrency: 100,
  maxDeferrals: 100,
  budgetWaitMs: 10_000,
  reportRetentionDays: 90,
} as const;

type Env = Record<string, string | undefined>;

/**
 * Reads and validates every variable of DESIGN.md's configuration table once.
 *
 * @example
 * const config = loadWorkerConfig(process.env); // throws ConfigError("QUEUE_URL is required") when unset
 */
export function loadWorkerConfig(env: Env): WorkerConfig {
  return {
    ...loadPlannerConfig(env),
    deadLetterQueueUrl: url(env, "DEAD_LETTER_QUEUE_URL"),
    maxReceiveCount: integer(env, "MAX_RECEIVE_COUNT", WORKER_DEFAULTS.maxReceiveCount, 1, 1000),
    workerConcurrency: integer(
      env,
      "WORKER_CONCURRENCY",
      WORKER_DEFAULTS.workerConcurrency,
      1,
      1000,
    ),
    maxDeferrals: integer(env, "MAX_DEFERRALS", WORKER_DEFAULTS.maxDeferrals, 0, 10_000),
    budgetWaitMs: integer(env, "BUDGET_WAIT_MS", WORKER_DEFAULTS.budgetWaitMs, 0, 60_000),
    reportBucket: bucketName(env, "REPORT_BUCKET"),
    s3Endpoint: text(env, "AWS_ENDPOINT_URL_S3") && url(env, "AWS_ENDPOINT_URL_S3"),
    reportRetentionDays: integer(
      env,
      "REPORT_RETENTION_DAYS",
      WORKER_DEFAULTS.reportRetentionDays,
      1,
      3650,
    ),
    runRecords: onOff(env, "RUN_RECORDS", true),
  };
}

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const value = text(env, name)?.toLowerCase();
  if (value === undefined) return fallback;
  if (value === "on" || value === "off") return value === "on";
  throw new ConfigError(name, `must be on or off, got "${value}"`);
}

function bucketName(env: Env, name: string): string | undefined {
  const value = text(env, name);
  if (value !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(value)) {
    throw new ConfigError(name, `must be an S3 bucket name (3–63 of a-z 0-9 . -), got "${value}"`);
  }
  return value;
}

function tokenSetting(env: Env): TokenSetting {
  const secretArn = text(env, "HIGHLEVEL_TOKEN_SECRET_ARN");
  if (secretArn) {
    if (!/^arn:aws[a-z-]*:secretsmanager:/.test(secretArn)) {
      throw new ConfigError("HIGHLEVEL_TOKEN_SECRET_ARN", "must be a Secrets Manager secret ARN");
    }
    return { source: "secret", secretArn };
  }
  const token = text(env, "HIGHLEVEL_TOKEN");
  if (token) {
    return { source: "env", token };
  }
  throw new ConfigError(
    "HIGHLEVEL_TOKEN_SECRET_ARN",
    "is required (or HIGHLEVEL_TOKEN for local runs): the worker has no HighLevel token",
  );
}

function text(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function url(env: Env, name: string, fallback?: string): string {
  const value = text(env, name) ?? fallback;
  if (value === undefined) {
    throw new ConfigError(name, "is required");
  }
  // A pattern, not `new URL`: local SQS endpoints use hosts like `sqs.us-east-1.127.0.0.1`,
  // which WHATWG URL parsing rejects although the SDK never resolves them.
  if (!/^https?:\/\/[^\s/?#]+(?:[/?#]\S*)?$/i.test(value)) {
    // The value is echoed: none of these variables carries a secret.
    throw new ConfigError(name, `must be an http(s) URL, got "${value}"`);
  }
  return value.replace(/\/+$/, "");
}

function tableName(env: Env, name: string): string | undefined {
  const value = text(env, name);
  if (value !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(value)) {
    throw new ConfigError(
      name,
      `must be a DynamoDB table name (3–255 of A-Z a-z 0-9 _ . -), got "${value}"`,
    );
  }
  return value;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === undefined) {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(name, `must be a whole number from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

export interface PlannerConfig {
  highLevelBaseUrl: string;
  highLevelApiVersion: string;
  token: TokenSetting;
  queueUrl: string;
  maxAttempts: number;
  requestTimeoutMs: number;
  sqsEndpoint: string | undefined;
  secretsEndpoint: string | undefined;
  /** The coordination table (fleet-wide rate budgets); none → per-container pacing. */
  coordinationTable: string | undefined;
  dynamoDbEndpoint: string | undefined;
  /** Locations a purge lists at once (PURGE_CONCURRENCY), each within its own budget. */
  purgeConcurrency: number;
}

/**
 * The variables both Lambdas read (the purge planner needs no more), each checked once.
 *
 * @example
 * const config = loadPlannerConfig(process.env); // throws ConfigError("QUEUE_URL is required") when unset
 */
export function loadPlannerConfig(env: Env): PlannerConfig {
  return {
    highLevelBaseUrl: url(env, "HIGHLEVEL_BASE_URL", WORKER_DEFAULTS.highLevelBaseUrl),
    highLevelApiVersion: text(env, "HIGHLEVEL_API_VERSION") ?? WORKER_DEFAULTS.highLevelApiVersion,
    token: tokenSetting(env),
    queueUrl: url(env, "QUEUE_URL"),
    maxAttempts: integer(env, "HIGHLEVEL_MAX_ATTEMPTS", WORKER_DEFAULTS.maxAttempts, 1, 10),
    requestTimeoutMs: integer(
      env,
      "HIGHLEVEL_TIMEOUT_MS",
      WORKER_DEFAULTS.requestTimeoutMs,
      100,
      900_000,
    ),
    sqsEndpoint: text(env, "AWS_ENDPOINT_URL_SQS") && url(env, "AWS_ENDPOINT_URL_SQS"),
    secretsEndpoint:
      text(env, "AWS_ENDPOINT_URL_SECRETS_MANAGER") && url(env, "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
    coordinationTable: tableName(env, "COORDINATION_TABLE"),
    dynamoDbEndpoint:
      text(env, "AWS_ENDPOINT_URL_DYNAMODB") && url(env, "AWS_ENDPOINT_URL_DYNAMODB"),
    purgeConcurrency: integer(env, "PURGE_CONCURRENCY", 32, 1, 200),
  };
}

export interface RefresherConfig {
  highLevelBaseUrl: string;
  secretArn: string;
  coordinationTable: string;
  secretsEndpoint: string | undefined;
  dynamoDbEndpoint: string | undefined;
}

/** The token refresher's variables: the secret it renews and the table that holds its lease. */
export function loadRefresherConfig(env: Env): RefresherConfig {
  const secretArn = text(env, "HIGHLEVEL_TOKEN_SECRET_ARN");
  if (!secretArn) throw new ConfigError("HIGHLEVEL_TOKEN_SECRET_ARN", "is required");
  const coordinationTable = tableName(env, "COORDINATION_TABLE");
  if (!coordinationTable) {
    throw new ConfigError("COORDINATION_TABLE", "is required: the refresh lease lives there");
  }
  return {
    highLevelBaseUrl: url(env, "HIGHLEVEL_BASE_URL", WORKER_DEFAULTS.highLevelBaseUrl),
    secretArn,
    coordinationTable,
    secretsEndpoint:
      text(env, "AWS_ENDPOINT_URL_SECRETS_MANAGER") && url(env, "AWS_ENDPOINT_URL_SECRETS_MANAGER"),
    dynamoDbEndpoint:
      text(env, "AWS_ENDPOINT_URL_DYNAMODB") && url(env, "AWS_ENDPOINT_URL_DYNAMODB"),
  };
}
