import { existsSync } from "node:fs";
import { join } from "node:path";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import { ReportBucket } from "../functions/core/runs/report-bucket.ts";
import { RunTable } from "../functions/core/runs/run-table.ts";
import { AWS_FLAG_HELP } from "./aws-clients.ts";
import { UsageError } from "./errors.ts";

export interface RunStoreFlags {
  stack?: string;
  region?: string;
  profile?: string;
  dataDir?: string;
  table?: string;
  bucket?: string;
}

export interface RunStores {
  table: RunTable;
  bucket: ReportBucket;
  /** Where the stores were found, for messages. */
  where: string;
  close(): Promise<void>;
}

/** The flags of `runs`, `runs show` and `report`. */
export const RUN_STORE_OPTIONS: Array<[string, string]> = [
  ["--stack <name>", "a deployed stack: its CoordinationTableName and ReportBucketName outputs"],
  ["--table <name>", "the coordination table (default: $COORDINATION_TABLE)"],
  ["--bucket <name>", "the report bucket (default: $REPORT_BUCKET)"],
  ["--region <region>", AWS_FLAG_HELP.region],
  ["--profile <name>", AWS_FLAG_HELP.profile],
  [
    "--data-dir <dir>",
    "a local run's data dir (`local --live`; the demo keeps .ghl-csv-purge/demo)",
  ],
];

/**
 * Where a run's record and results are: a local run's data dir (the embedded table and S3,
 * opened here), or the stack's table and bucket (from `--stack`, the flags or the environment).
 */
export async function openRunStores(flags: RunStoreFlags): Promise<RunStores> {
  if (flags.dataDir) return openLocalStores(flags.dataDir);
  let table = flags.table ?? process.env.COORDINATION_TABLE?.trim();
  let bucket = flags.bucket ?? process.env.REPORT_BUCKET?.trim();
  if (flags.stack && (!table || !bucket)) {
    const { readStackOutputs } = await import("./stack-outputs.ts");
    const outputs = await readStackOutputs(flags.stack, {
      ...(flags.region && { region: flags.region }),
      ...(flags.profile && { profile: flags.profile }),
    });
    table ||= outputs.CoordinationTableName;
    bucket ||= outputs.ReportBucketName;
    if (!table || !bucket) {
      throw new UsageError(
        `stack ${flags.stack} has no ${table ? "ReportBucketName" : "CoordinationTableName"} output: deploy this version of the stack`,
      );
    }
  }
  if (!table) {
    throw new UsageError("no coordination table: give --stack, --table, or set COORDINATION_TABLE");
  }
  if (!bucket)
    throw new UsageError("no report bucket: give --stack, --bucket, or set REPORT_BUCKET");
  const [dynamoDb, s3] = await Promise.all([dynamoDbClient(flags), s3Client(flags)]);
  return {
    table: new RunTable(async () => dynamoDb, table),
    bucket: new ReportBucket(async () => s3, bucket),
    where: `table ${table}, bucket ${bucket}`,
    close: async () => {
      dynamoDb.destroy();
      s3.destroy();
    },
  };
}

async function openLocalStores(dataDir: string): Promise<RunStores> {
  const tablePath = join(dataDir, "coordination");
  if (!existsSync(tablePath)) {
    throw new UsageError(
      `--data-dir ${dataDir} holds no runs (no ${tablePath}): give the data dir of a local run`,
    );
  }
  const [
    { startEmbeddedDynamoDb },
    { startEmbeddedSqs, createLocalS3Client, LOCAL_REPORT_BUCKET },
  ] = await Promise.all([
    import("../local/embedded-dynamodb.ts"),
    import("../local/embedded-sqs.ts"),
  ]);
  const dynamo = await startEmbeddedDynamoDb({ path: tablePath }).catch((error: unknown) => {
    throw new UsageError(
      `--data-dir ${dataDir}: its table cannot be opened (is a local run still using it?): ${error instanceof Error ? error.message : String(error)}`,
    );
  });
  const sqs = await startEmbeddedSqs({ dataDir });
  const s3 = createLocalS3Client(sqs.endpoint);
  return {
    table: new RunTable(async () => dynamo.client, dynamo.tableName),
    bucket: new ReportBucket(async () => s3, LOCAL_REPORT_BUCKET),
    where: `data dir ${dataDir}`,
    close: async () => {
      s3.destroy();
      await sqs.stop();
      await dynamo.stop();
    },
  };
}

/** Local endpoints (AWS_ENDPOINT_URL_*) get dummy credentials when none are configured. */
function localCredentials(flags: Pick<RunStoreFlags, "profile">, endpoint: string | undefined) {
  const hasCredentials = process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE || flags.profile;
  return endpoint && !hasCredentials
    ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } }
    : {};
}

function region(flags: Pick<RunStoreFlags, "region">, endpoint: string | undefined) {
  const value =
    flags.region ||
    process.env.AWS_REGION ||
    process.env.AWS_DEFAULT_REGION ||
    (endpoint ? "us-east-1" : undefined);
  return value ? { region: value } : {};
}

export async function dynamoDbClient(
  flags: Pick<RunStoreFlags, "region" | "profile">,
): Promise<DynamoDBClient> {
  const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB?.trim() || undefined;
  return new DynamoDBClient({
    ...region(flags, endpoint),
    ...(flags.profile && { profile: flags.profile }),
    ...(endpoint && { endpoint }),
    ...localCredentials(flags, endpoint),
  });
}

async function s3Client(flags: Pick<RunStoreFlags, "region" | "profile">): Promise<S3Client> {
  const { S3Client } = await import("@aws-sdk/client-s3");
  const endpoint = process.env.AWS_ENDPOINT_URL_S3?.trim() || undefined;
  return new S3Client({
    ...region(flags, endpoint),
    ...(flags.profile && { profile: flags.profile }),
    ...(endpoint && { endpoint, forcePathStyle: true }),
    ...localCredentials(flags, endpoint),
  });
}
