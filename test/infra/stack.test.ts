import { execFile } from "node:child_process";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { App, Duration, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { Topic } from "aws-cdk-lib/aws-sns";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METRIC } from "../../functions/core/metric-names.ts";
import { CsvDeletionPipeline, resolveSettings } from "../../infra/csv-deletion-pipeline.ts";
import { PIPELINE_DEFAULTS } from "../../infra/settings.ts";
import { synthApp, TEST_CDK_OUT } from "../helpers/synth.ts";

const run = promisify(execFile);

let synth: ReturnType<typeof synthApp>;
let template: Template;
beforeAll(() => {
  synth = synthApp();
  template = synth.template;
});
afterAll(() => {
  rmSync(synth.outdir, { recursive: true, force: true });
});

const queueId = (t: Template, dead: boolean) =>
  Object.entries(t.findResources("AWS::SQS::Queue")).find(([id]) =>
    dead ? id.includes("DeadLetter") : !id.includes("DeadLetter"),
  )?.[0] as string;

describe("GhlCsvPurge stack", () => {
  it("gives the source queue a visibility timeout of 6 × the function timeout + batching window", () => {
    const fn = Object.values(template.findResources("AWS::Lambda::Function"))[0];
    const timeout = fn?.Properties.Timeout as number;
    expect(timeout).toBe(PIPELINE_DEFAULTS.functionTimeoutSeconds);
    template.hasResourceProperties("AWS::SQS::Queue", {
      VisibilityTimeout: 6 * timeout + PIPELINE_DEFAULTS.maxBatchingWindowSeconds,
      RedrivePolicy: {
        deadLetterTargetArn: { "Fn::GetAtt": [queueId(template, true), "Arn"] },
        maxReceiveCount: PIPELINE_DEFAULTS.maxReceiveCount,
      },
      MessageRetentionPeriod: 4 * 24 * 3600,
    });
  });

  it("encrypts both queues with SSE-SQS and denies non-TLS access to each", () => {
    const queues = template.findResources("AWS::SQS::Queue");
    expect(Object.keys(queues)).toHaveLength(2);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    }
    for (const id of Object.keys(queues)) {
      template.hasResourceProperties("AWS::SQS::QueuePolicy", {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: "Deny",
              Action: "sqs:*",
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            }),
          ]),
        },
      });
    }
  });

  it("keeps dead letters for 14 days, longer than the source queue keeps jobs", () => {
    template.hasResourceProperties("AWS::SQS::Queue", {
      MessageRetentionPeriod: 14 * 24 * 3600,
      RedrivePolicy: Match.absent(),
    });
  });

  it("lets the DLQ take dead letters from its source queue only (RedriveAllowPolicy byQueue)", () => {
    const queues = template.findResources("AWS::SQS::Queue");
    const source = queues[queueId(template, false)]?.Properties;
    const dlq = queues[queueId(template, true)]?.Properties;
    expect(source?.QueueName).toMatch(/-jobs$/);
    expect(dlq?.RedriveAllowPolicy).toEqual({
      redrivePermission: "byQueue",
      sourceQueueArns: [
        {
          "Fn::Join": [
            "",
            [
              "arn:",
              { Ref: "AWS::Partition" },
              ":sqs:",
              { Ref: "AWS::Region" },
              ":",
              { Ref: "AWS::AccountId" },
              `:${source?.QueueName}`,
            ],
          ],
        },
      ],
    });
  });

  it("runs the worker on nodejs24.x, arm64, wired by DESIGN.md's env vars, with no token in them", () => {
    template.hasResourceProperties("AWS::Lambda::Function", {
      Runtime: "nodejs24.x",
      Architectures: ["arm64"],
      Handler: "index.handler",
      MemorySize: PIPELINE_DEFAULTS.functionMemoryMiB,
      Environment: {
        Variables: Match.objectLike({
          QUEUE_URL: { Ref: queueId(template, false) },
          DEAD_LETTER_QUEUE_URL: { Ref: queueId(template, true) },
          HIGHLEVEL_TOKEN_SECRET_ARN: { Ref: Match.stringLikeRegexp("TokenSecret") },
          MAX_RECEIVE_COUNT: "5",
          HIGHLEVEL_MAX_ATTEMPTS: "3",
          HIGHLEVEL_TIMEOUT_MS: "10000",
          WORKER_CONCURRENCY: "100",
          MAX_DEFERRALS: "100",
        }),
      },
    });
    const fn = Object.values(template.findResources("AWS::Lambda::Function"))[0];
    expect(fn?.Properties.Environment.Variables.HIGHLEVEL_TOKEN).toBeUndefined();
  });

  it("carries no token anywhere in the template, even when the synth environment has one", () => {
    const previous = process.env.HIGHLEVEL_TOKEN;
    process.env.HIGHLEVEL_TOKEN = "pit-synth-time-token-5d2c";
    try {
      const { template: withTokenInEnv, outdir } = synthApp();
      rmSync(outdir, { recursive: true, force: true });
      const text = JSON.stringify(withTokenInEnv.toJSON());
      expect(text).not.toContain("pit-synth-time-token-5d2c");
      expect(text).not.toMatch(/"HIGHLEVEL_TOKEN"|Bearer /);
    } finally {
      if (previous === undefined) delete process.env.HIGHLEVEL_TOKEN;
      else process.env.HIGHLEVEL_TOKEN = previous;
    }
  });

  it("consumes the queue with partial batch responses and a maximum concurrency", () => {
    template.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      EventSourceArn: { "Fn::GetAtt": [queueId(template, false), "Arn"] },
      FunctionResponseTypes: ["ReportBatchItemFailures"],
      ScalingConfig: { MaximumConcurrency: PIPELINE_DEFAULTS.maxConcurrency },
      BatchSize: PIPELINE_DEFAULTS.batchSize,
      MaximumBatchingWindowInSeconds: PIPELINE_DEFAULTS.maxBatchingWindowSeconds,
    });
  });

  it("keeps the worker's logs with a retention", () => {
    template.hasResourceProperties("AWS::Logs::LogGroup", { RetentionInDays: 30 });
  });

  it("creates the token secret with a generated placeholder, never a value from the template", () => {
    template.hasResourceProperties("AWS::SecretsManager::Secret", {
      GenerateSecretString: Match.objectLike({ PasswordLength: 32 }),
      SecretString: Match.absent(),
    });
  });

  it("turns 'CSV Deletion Requested' events into jobs: the detail as is, or with the event's time", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      EventBusName: "default",
      EventPattern: {
        source: ["ghl-csv-purge"],
        "detail-type": ["CSV Deletion Requested"],
        detail: { runId: [{ exists: true }] },
      },
      Targets: [
        Match.objectLike({
          Arn: { "Fn::GetAtt": [queueId(template, false), "Arn"] },
          InputPath: "$.detail",
        }),
      ],
    });
    template.hasResourceProperties("AWS::Events::Rule", {
      EventBusName: "default",
      EventPattern: Match.objectLike({ detail: { runId: [{ exists: false }] } }),
      Targets: [
        Match.objectLike({
          Arn: { "Fn::GetAtt": [queueId(template, false), "Arn"] },
          InputTransformer: Match.objectLike({
            InputPathsMap: Match.objectLike({ time: "$.time" }),
          }),
        }),
      ],
    });
  });

  it("keeps run results in an encrypted, private, TLS-only bucket that expires runs/ and outlives the stack", () => {
    template.hasResource("AWS::S3::Bucket", {
      DeletionPolicy: "Retain",
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            { ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } },
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LifecycleConfiguration: {
          Rules: [Match.objectLike({ Prefix: "runs/", ExpirationInDays: 90, Status: "Enabled" })],
        },
      }),
    });
    const policies = Object.values(template.findResources("AWS::S3::BucketPolicy"));
    expect(JSON.stringify(policies)).toContain('"aws:SecureTransport":"false"');
    template.hasOutput("ReportBucketName", Match.anyValue());
  });

  it("lets the worker only PutObject under runs/ and update the coordination table", () => {
    const policies = template.findResources("AWS::IAM::Policy");
    const workerPolicy = Object.entries(policies).find(([id]) =>
      id.startsWith("CsvDeletionWorkerRole"),
    );
    const statements = workerPolicy?.[1].Properties.PolicyDocument.Statement as Array<{
      Action: string | string[];
      Resource: unknown;
    }>;
    const s3 = statements.filter((s) => [s.Action].flat().some((a) => a.startsWith("s3:")));
    expect(s3).toHaveLength(1);
    expect(s3[0]?.Action).toBe("s3:PutObject");
    expect(JSON.stringify(s3[0]?.Resource)).toMatch(/ReportsBucket.*\/runs\/\*/);
    const dynamo = statements.filter((s) =>
      [s.Action].flat().some((a) => a.startsWith("dynamodb:")),
    );
    expect(dynamo.flatMap((s) => [s.Action].flat()).sort()).toEqual([
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
    ]);
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: {
        Variables: Match.objectLike({
          REPORT_BUCKET: Match.anyValue(),
          REPORT_RETENTION_DAYS: "90",
        }),
      },
    });
  });

  it("alarms on dead letters, on old jobs and on worker errors", () => {
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    const byMetric = Object.fromEntries(
      alarms.map((a) => [a.Properties.MetricName ?? "math", a.Properties]),
    );
    expect(Object.keys(byMetric).sort()).toEqual([
      "ApproximateAgeOfOldestMessage",
      "ApproximateNumberOfMessagesVisible",
      "Deferred",
      "Errors",
      "Throttles",
      "TokenExpired",
      "TokenRefreshFailed",
      "math",
    ]);
    // 429s above 1% of calls over 15 minutes.
    expect(byMetric.math).toMatchObject({
      Threshold: 1,
      ComparisonOperator: "GreaterThanThreshold",
    });
    expect(JSON.stringify(byMetric.math?.Metrics)).toContain("100 * throttled / MAX([calls, 1])");
    // Deferrals in every quarter hour for an hour.
    expect(byMetric.Deferred).toMatchObject({
      EvaluationPeriods: 4,
      DatapointsToAlarm: 4,
      Period: 900,
    });
    expect(byMetric.TokenRefreshFailed?.Namespace).toBe("GhlCsvPurge");
    expect(byMetric.TokenRefreshFailed?.Dimensions).toEqual([
      { Name: "service", Value: "ghl-csv-purge" },
    ]);
    expect(byMetric.ApproximateNumberOfMessagesVisible).toMatchObject({
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Dimensions: [
        { Name: "QueueName", Value: { "Fn::GetAtt": [queueId(template, true), "QueueName"] } },
      ],
    });
    expect(byMetric.ApproximateAgeOfOldestMessage).toMatchObject({ Threshold: 3600 });
    expect(byMetric.Errors).toMatchObject({ Namespace: "AWS/Lambda", Threshold: 1 });
  });

  it("draws a dashboard whose every metric is one the code emits or an AWS/SQS or AWS/Lambda metric, and shows every alarm", () => {
    const dashboards = Object.values(template.findResources("AWS::CloudWatch::Dashboard"));
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(dashboards[0]?.Properties.DashboardBody);
    const emitted = new Set<string>(Object.values(METRIC));
    // Metrics appear in the body as ["Namespace","MetricName",…] inside Fn::Join pieces.
    const named = [
      ...body.matchAll(/\[\\"(GhlCsvPurge|AWS\/SQS|AWS\/Lambda)\\",\\"([A-Za-z]+)\\"/g),
    ].map((m) => [m[1], m[2]] as const);
    expect(named.length).toBeGreaterThan(15);
    for (const [namespace, name] of named) {
      if (namespace === "GhlCsvPurge") expect(emitted).toContain(name);
    }
    const alarmIds = Object.keys(template.findResources("AWS::CloudWatch::Alarm"));
    for (const id of alarmIds) expect(body).toContain(id);
    expect(Object.keys(template.findOutputs("*"))).toContain("DashboardUrl");
  });

  it("runs the token refresher hourly; only its role may write the secret, and it takes the lease", () => {
    const functions = template.findResources("AWS::Lambda::Function");
    const refresherId = Object.keys(functions).find((id) => id.includes("TokenRefresher"));
    expect(refresherId).toBeDefined();
    const refresher = functions[refresherId as string]?.Properties;
    expect(refresher.Environment.Variables).toMatchObject({
      HIGHLEVEL_TOKEN_SECRET_ARN: {
        Ref: Object.keys(template.findResources("AWS::SecretsManager::Secret"))[0],
      },
      COORDINATION_TABLE: expect.anything(),
    });
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(1 hour)",
      Target: Match.objectLike({ Arn: { "Fn::GetAtt": [refresherId, "Arn"] } }),
    });
    const refresherRole = refresher.Role["Fn::GetAtt"][0] as string;
    const policy = Object.values(template.findResources("AWS::IAM::Policy")).find((p) =>
      JSON.stringify(p.Properties.Roles).includes(`"${refresherRole}"`),
    );
    const actions = (
      (policy?.Properties.PolicyDocument.Statement ?? []) as Array<{ Action: string | string[] }>
    ).flatMap((statement) => statement.Action);
    expect(actions).toEqual(
      expect.arrayContaining([
        "secretsmanager:PutSecretValue",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
      ]),
    );
    // Writers of the secret: the refresher's role alone.
    const writers = Object.values(template.findResources("AWS::IAM::Policy")).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes("secretsmanager:PutSecretValue"),
    );
    expect(writers).toHaveLength(1);
  });

  it("creates the coordination table: on-demand, pk, TTL, named to the worker, GetItem/UpdateItem only", () => {
    const tables = template.findResources("AWS::DynamoDB::GlobalTable");
    expect(Object.keys(tables)).toHaveLength(1);
    const [tableId, table] = Object.entries(tables)[0] as [
      string,
      { Properties: Record<string, unknown> },
    ];
    expect(table.Properties.KeySchema).toEqual([{ AttributeName: "pk", KeyType: "HASH" }]);
    expect(table.Properties.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: "ttl",
      Enabled: true,
    });
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ COORDINATION_TABLE: { Ref: tableId } }) },
    });
    const [policy] = Object.values(template.findResources("AWS::IAM::Policy"));
    const statements = policy?.Properties.PolicyDocument.Statement as Array<{
      Action: string | string[];
      Resource: unknown;
    }>;
    const onTable = statements.filter((statement) =>
      JSON.stringify(statement.Resource).includes(tableId),
    );
    expect(onTable.flatMap((statement) => statement.Action).sort()).toEqual([
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
    ]);
  });

  it("grants the worker only its queues, its secret, its log group and its table", () => {
    const workerRole = Object.keys(template.findResources("AWS::IAM::Role")).find((id) =>
      id.includes("WorkerRole"),
    );
    const policies = Object.values(template.findResources("AWS::IAM::Policy")).filter((policy) =>
      JSON.stringify(policy.Properties.Roles).includes(`"${workerRole}"`),
    );
    expect(policies).toHaveLength(1);
    const statements = policies[0]?.Properties.PolicyDocument.Statement as Array<{
      Action: string | string[];
      Resource: unknown;
    }>;
    const allowed = new Set([
      JSON.stringify({ "Fn::GetAtt": [queueId(template, false), "Arn"] }),
      JSON.stringify({ "Fn::GetAtt": [queueId(template, true), "Arn"] }),
      JSON.stringify({
        Ref: Object.keys(template.findResources("AWS::SecretsManager::Secret"))[0],
      }),
      JSON.stringify({
        "Fn::GetAtt": [
          Object.keys(template.findResources("AWS::Logs::LogGroup")).find((id) =>
            id.includes("WorkerLogs"),
          ),
          "Arn",
        ],
      }),
      JSON.stringify({
        "Fn::GetAtt": [Object.keys(template.findResources("AWS::DynamoDB::GlobalTable"))[0], "Arn"],
      }),
      JSON.stringify({
        "Fn::Join": [
          "",
          [
            { "Fn::GetAtt": [Object.keys(template.findResources("AWS::S3::Bucket"))[0], "Arn"] },
            "/runs/*",
          ],
        ],
      }),
    ]);
    for (const statement of statements) {
      const resources = Array.isArray(statement.Resource)
        ? statement.Resource
        : [statement.Resource];
      for (const resource of resources) expect(allowed).toContain(JSON.stringify(resource));
      const actions = Array.isArray(statement.Action) ? statement.Action : [statement.Action];
      for (const action of actions) expect(action).not.toContain("*");
    }
    // The worker may read the secret, never write it: only the token refresher may.
    const actions = statements.flatMap((statement) => statement.Action);
    expect(actions).not.toContain("secretsmanager:PutSecretValue");
    for (const role of Object.values(template.findResources("AWS::IAM::Role"))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    }
  });

  it("outputs the queue URL, DLQ URL, secret ARN, function name, coordination table and report bucket", () => {
    expect(Object.keys(template.findOutputs("*")).sort()).toEqual([
      "CoordinationTableName",
      "DashboardUrl",
      "DeadLetterQueueUrl",
      "QueueUrl",
      "ReportBucketName",
      "TokenSecretArn",
      "WorkerFunctionName",
    ]);
  });

  it("passes cdk-nag's AwsSolutions checks with no unacknowledged finding", () => {
    const report = JSON.parse(readFileSync(join(synth.outdir, "validation-report.json"), "utf8"));
    const violations = report.pluginReports.flatMap(
      (r: { violations?: unknown[] }) => r.violations ?? [],
    );
    expect(violations).toEqual([]);
  });
});

describe("CDK context and props", () => {
  it("reads settings from context, imports a secret by ARN and notifies an SNS topic", () => {
    const secretArn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghl-token-AbCdEf";
    const { template: t, outdir } = synthApp({
      maxConcurrency: "4",
      batchSize: "5",
      functionTimeoutSeconds: "30",
      tokenSecretArn: secretArn,
      alarmTopicArn: "arn:aws:sns:us-east-1:123456789012:ops",
      eventSources: "crm,ghl-csv-purge",
      detailType: "Purge Me",
    });
    rmSync(outdir, { recursive: true, force: true });
    t.hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 4 },
      BatchSize: 5,
    });
    t.hasResourceProperties("AWS::SQS::Queue", { VisibilityTimeout: 6 * 30 + 1 });
    t.resourceCountIs("AWS::SecretsManager::Secret", 0);
    t.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ HIGHLEVEL_TOKEN_SECRET_ARN: secretArn }) },
    });
    t.hasResourceProperties("AWS::Events::Rule", {
      EventPattern: { source: ["crm", "ghl-csv-purge"], "detail-type": ["Purge Me"] },
    });
    for (const alarm of Object.values(t.findResources("AWS::CloudWatch::Alarm"))) {
      expect(alarm.Properties.AlarmActions).toEqual(["arn:aws:sns:us-east-1:123456789012:ops"]);
    }
  });

  it.each([
    [{ maxConcurrency: 1 }, /maxConcurrency must be a whole number from 2 to 1000, got 1/],
    [
      { functionTimeout: Duration.seconds(120), visibilityTimeout: Duration.seconds(300) },
      /visibilityTimeout \(300 s\) must be at least 6 × functionTimeout \+ maxBatchingWindow = 721 s/,
    ],
    [
      { highLevelTimeoutMs: 60_000 },
      /highLevelTimeoutMs \(60000\) must be shorter than functionTimeout/,
    ],
    [{ sourceRetention: Duration.days(14) }, /sourceRetention must be shorter/],
    [
      { batchSize: 100, maxBatchingWindow: Duration.seconds(0) },
      /batchSize above 10 needs a maxBatchingWindow/,
    ],
  ])("refuses an impossible combination %#", (props, message) => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "S");
    expect(() => new CsvDeletionPipeline(stack, "P", props)).toThrow(message);
  });

  it("batches 20 jobs by default, and 10 (SQS's most without a window) when the window is 0", () => {
    expect(resolveSettings({}).batchSize).toBe(200);
    expect(resolveSettings({ maxBatchingWindow: Duration.seconds(0) }).batchSize).toBe(10);
  });

  it("fails synth on bad context with the key's name", () => {
    expect(() => synthApp({ maxConcurrency: "lots" })).toThrow(
      /context maxConcurrency must be a number/,
    );
  });

  it("lets other apps embed the construct with their own topic", () => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Host");
    const topic = new Topic(stack, "Ops");
    const pipeline = new CsvDeletionPipeline(stack, "Purge", {
      alarmTopic: topic,
      maxConcurrency: 3,
    });
    expect(pipeline.alarms).toHaveLength(8);
    Template.fromStack(stack).hasResourceProperties("AWS::Lambda::EventSourceMapping", {
      ScalingConfig: { MaximumConcurrency: 3 },
    });
  });
});

describe("npx cdk synth", () => {
  it("synthesizes offline with local esbuild and cdk-nag, bundling the worker", async () => {
    const outdir = join(TEST_CDK_OUT, `cli-${process.pid}`);
    const { stdout, stderr } = await run("npx", ["cdk", "synth", "--quiet", "--output", outdir], {
      cwd: join(import.meta.dirname, "../.."),
      env: { ...process.env, CDK_DISABLE_VERSION_CHECK: "true" },
    });
    expect(`${stdout}${stderr}`).not.toMatch(/ERROR|docker/i);
    const template = JSON.parse(readFileSync(join(outdir, "GhlCsvPurge.template.json"), "utf8"));
    expect(Object.keys(template.Resources).length).toBeGreaterThan(10);
    const asset = Object.values(
      template.Resources as Record<string, { Type: string; Metadata?: Record<string, string> }>,
    ).find((r) => r.Type === "AWS::Lambda::Function")?.Metadata?.["aws:asset:path"];
    expect(statSync(join(outdir, asset as string, "index.mjs")).size).toBeGreaterThan(10_000);
    rmSync(outdir, { recursive: true, force: true });
  });
});
