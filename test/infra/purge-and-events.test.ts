import { rmSync } from "node:fs";
import { App, Stack } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { parseDeletionJob } from "../../functions/core/producers/deletion-job.ts";
import { runEntry } from "../../functions/core/worker/run-entry.ts";
import { CsvDeletionPipeline } from "../../infra/csv-deletion-pipeline.ts";
import { synthApp } from "../helpers/synth.ts";

const schedules = [
  {
    name: "nightly-failed",
    schedule: "cron(0 3 * * ? *)",
    timeZone: "Europe/Berlin",
    policy: { locationIds: ["locA", "locB"], olderThanDays: 30, statuses: ["failed"] },
  },
  {
    name: "weekly-all",
    schedule: "rate(7 days)",
    policy: { locationIds: ["locC"], olderThanDays: 90, maxJobs: 500 },
  },
];

describe("scheduled purges", () => {
  const { template, outdir } = synthApp({ purgeSchedules: JSON.stringify(schedules) });
  rmSync(outdir, { recursive: true, force: true });

  it("creates one schedule per policy, invoking the planner with the validated policy", () => {
    const purges = Object.values(template.findResources("AWS::Scheduler::Schedule")).filter((s) =>
      String(s.Properties.Description).startsWith("ghl-csv-purge: purge "),
    );
    expect(purges).toHaveLength(2);
    const planner = Object.entries(template.findResources("AWS::Lambda::Function")).find(([id]) =>
      id.includes("Planner"),
    );
    expect(planner).toBeDefined();
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "cron(0 3 * * ? *)",
      ScheduleExpressionTimezone: "Europe/Berlin",
      Target: {
        Arn: { "Fn::GetAtt": [planner?.[0], "Arn"] },
        Input: JSON.stringify({
          locationIds: ["locA", "locB"],
          olderThanDays: 30,
          statuses: ["failed"],
          maxJobs: 10_000,
          protectScheduledPosts: true,
          scheduledPostMarginMinutes: 60,
          dryRun: false,
          reason: "scheduled purge",
          runName: "nightly-failed",
        }),
        RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 2 }),
      },
    });
    template.hasResourceProperties("AWS::Scheduler::Schedule", {
      ScheduleExpression: "rate(7 days)",
    });
  });

  it("gives the planner its own role: send to the jobs queue, read the secret, write its logs, take rate permits", () => {
    const policies = Object.entries(template.findResources("AWS::IAM::Policy"));
    const plannerPolicy = policies.find(([id]) => id.includes("PlannerRole"))?.[1];
    const statements = plannerPolicy?.Properties.PolicyDocument.Statement as Array<{
      Action: string[];
      Resource: unknown;
    }>;
    const actions = statements.flatMap((s) => s.Action).sort();
    expect(actions).toEqual([
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetSecretValue",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:SendMessage",
    ]);
    expect(JSON.stringify(statements)).not.toContain("DeadLetter");
    const schedulerPolicy = policies.find(([id]) => id.includes("PurgeSchedulerRole"))?.[1];
    expect(schedulerPolicy?.Properties.PolicyDocument.Statement[0].Action).toBe(
      "lambda:InvokeFunction",
    );
  });

  it("refuses a schedule whose policy is invalid, naming the schedule and the field", () => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "S");
    expect(
      () =>
        new CsvDeletionPipeline(stack, "P", {
          purgeSchedules: [
            { name: "bad", schedule: "rate(1 day)", policy: { locationIds: ["a/b"] } },
          ],
        }),
    ).toThrow(/purge schedule "bad": invalid purge policy: locationIds\.0: may contain only/);
  });

  it('accepts locationIds "all" and refuses any other word, at synth', () => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "S");
    new CsvDeletionPipeline(stack, "P", {
      purgeSchedules: [{ name: "every", schedule: "rate(1 day)", policy: { locationIds: "all" } }],
    });
    const schedule = Object.values(
      Template.fromStack(stack).findResources("AWS::Scheduler::Schedule"),
    ).find((s) => String(s.Properties.Description).includes("every location"));
    expect(JSON.parse(schedule?.Properties.Target.Input)).toMatchObject({
      locationIds: "all",
      runName: "every",
    });
    const other = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "T");
    expect(
      () =>
        new CsvDeletionPipeline(other, "P", {
          purgeSchedules: [
            // biome-ignore lint/suspicious/noExplicitAny: a wrong value on purpose
            { name: "bad", schedule: "rate(1 day)", policy: { locationIds: "everything" as any } },
          ],
        }),
    ).toThrow(/locationIds: must be a list of location ids, or "all"/);
  });

  it("refuses a schedule that names the deleted status at synth", () => {
    const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "S");
    expect(
      () =>
        new CsvDeletionPipeline(stack, "P", {
          purgeSchedules: [
            {
              name: "gone",
              schedule: "rate(1 day)",
              policy: { locationIds: ["a"], statuses: ["deleted"] },
            },
          ],
        }),
    ).toThrow(/purge schedule "gone": invalid purge policy: statuses\.0: deleted uploads are gone/);
  });

  it("has no planner or schedule when no purge is configured", () => {
    const { template: plain, outdir: plainOut } = synthApp();
    rmSync(plainOut, { recursive: true, force: true });
    // Only the token refresher's schedule, and no planner.
    expect(
      Object.values(plain.findResources("AWS::Scheduler::Schedule")).map(
        (s) => s.Properties.Description,
      ),
    ).toEqual(["ghl-csv-purge: renew HighLevel OAuth tokens that expire within 6 hours"]);
    expect(
      Object.keys(plain.findResources("AWS::Lambda::Function")).filter((id) =>
        id.includes("Planner"),
      ),
    ).toHaveLength(0);
  });
});

describe("event-driven cleanup", () => {
  const stack = new Stack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "S");
  new CsvDeletionPipeline(stack, "P");
  const rules = Object.values(Template.fromStack(stack).findResources("AWS::Events::Rule"));
  const event = (detail: Record<string, unknown>) => ({
    version: "0",
    id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "CSV Deletion Requested",
    source: "ghl-csv-purge",
    account: "123456789012",
    time: "2026-11-27T10:00:00Z",
    region: "eu-west-1",
    resources: [],
    detail,
  });
  const lookup = (value: unknown, path: string) =>
    path
      .replace(/^\$\./, "")
      .split(".")
      .reduce<unknown>((v, key) => (v as Record<string, unknown> | undefined)?.[key], value);
  /** The body EventBridge sends: the InputPath's value, or the InputTransformer's template filled. */
  interface RuleTarget {
    InputPath?: string;
    InputTransformer: { InputPathsMap: Record<string, string>; InputTemplate: string };
  }
  const bodyOf = (target: RuleTarget, sent: ReturnType<typeof event>) => {
    if (target.InputPath) return JSON.stringify(lookup(sent, target.InputPath));
    const { InputPathsMap, InputTemplate } = target.InputTransformer;
    // A path the event lacks is filled with null (the worker reads null as absent).
    return (InputTemplate as string).replace(/<([\w-]+)>/g, (_, name: string) =>
      JSON.stringify(lookup(sent, InputPathsMap[name] ?? "") ?? null),
    );
  };
  const ruleFor = (sent: ReturnType<typeof event>) =>
    rules.filter((rule) => {
      const wantsRun = rule.Properties.EventPattern.detail.runId[0].exists as boolean;
      return wantsRun === (sent.detail.runId !== undefined);
    });

  it("sends an event that names its run with its detail as the body, run id and all", () => {
    const sent = event({
      locationId: "ve9EPM428h8vShlRW1KT",
      csvId: "65f92e55cc884f0d0845e447",
      reason: "customer offboarded",
      runId: "offboarding-acme",
    });
    const matching = ruleFor(sent);
    expect(matching).toHaveLength(1);
    expect(matching[0]?.Properties.EventPattern).toMatchObject({
      source: [sent.source],
      "detail-type": [sent["detail-type"]],
    });
    const body = bodyOf(matching[0]?.Properties.Targets[0], sent);
    expect(parseDeletionJob(body)).toEqual({ ok: true, job: sent.detail });
  });

  it("sends an event without a run id with its time, so it counts under that UTC day's run", () => {
    const sent = event({ locationId: "ve9EPM428h8vShlRW1KT", csvId: "65f92e55cc884f0d0845e447" });
    const matching = ruleFor(sent);
    expect(matching).toHaveLength(1);
    const body = bodyOf(matching[0]?.Properties.Targets[0], sent);
    const parsed = parseDeletionJob(body);
    expect(parsed).toEqual({
      ok: true,
      job: { ...sent.detail, eventTime: "2026-11-27T10:00:00Z" },
    });
    const message = { messageId: "m", receiptHandle: "", body, receiveCount: 1, deferrals: 0 };
    const entry = runEntry(message, parsed.ok ? parsed.job : undefined, {
      outcome: "deleted",
      attempts: 1,
    });
    expect(entry.runId).toBe("events-2026-11-27");
  });
});
