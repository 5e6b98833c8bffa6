import { describe, expect, it } from "vitest";
import { ConfigError, loadWorkerConfig } from "../../functions/core/config.ts";

const minimal = {
  HIGHLEVEL_TOKEN: "t",
  QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
  DEAD_LETTER_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs-dlq",
};

describe("loadWorkerConfig", () => {
  it("applies DESIGN.md's defaults", () => {
    expect(loadWorkerConfig(minimal)).toMatchObject({
      highLevelBaseUrl: "https://services.leadconnectorhq.com",
      highLevelApiVersion: "2021-07-28",
      token: { source: "env", token: "t" },
      maxReceiveCount: 5,
      maxAttempts: 3,
      requestTimeoutMs: 10_000,
      workerConcurrency: 100,
      budgetWaitMs: 10_000,
      maxDeferrals: 100,
      sqsEndpoint: undefined,
    });
  });

  it("prefers the secret ARN over a bare token", () => {
    const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghl-token-AbCdEf";
    expect(loadWorkerConfig({ ...minimal, HIGHLEVEL_TOKEN_SECRET_ARN: arn }).token).toEqual({
      source: "secret",
      secretArn: arn,
    });
  });

  it.each([
    [{ QUEUE_URL: undefined }, "QUEUE_URL", /QUEUE_URL is required/],
    [{ DEAD_LETTER_QUEUE_URL: "" }, "DEAD_LETTER_QUEUE_URL", /is required/],
    [{ HIGHLEVEL_TOKEN: undefined }, "HIGHLEVEL_TOKEN_SECRET_ARN", /no HighLevel token/],
    [{ HIGHLEVEL_TOKEN_SECRET_ARN: "my-secret" }, "HIGHLEVEL_TOKEN_SECRET_ARN", /secret ARN/],
    [{ MAX_RECEIVE_COUNT: "five" }, "MAX_RECEIVE_COUNT", /whole number from 1 to 1000, got "five"/],
    [{ HIGHLEVEL_MAX_ATTEMPTS: "0" }, "HIGHLEVEL_MAX_ATTEMPTS", /from 1 to 10/],
    [{ HIGHLEVEL_TIMEOUT_MS: "1.5" }, "HIGHLEVEL_TIMEOUT_MS", /whole number/],
    [{ WORKER_CONCURRENCY: "-1" }, "WORKER_CONCURRENCY", /whole number/],
    [{ MAX_DEFERRALS: "x" }, "MAX_DEFERRALS", /whole number/],
    [{ HIGHLEVEL_BASE_URL: "services.leadconnectorhq.com" }, "HIGHLEVEL_BASE_URL", /http\(s\) URL/],
    [{ AWS_ENDPOINT_URL_SQS: "localhost:4566" }, "AWS_ENDPOINT_URL_SQS", /http\(s\) URL/],
  ])("fails on %j naming %s", (change, variable, message) => {
    const attempt = () => loadWorkerConfig({ ...minimal, ...change });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (error) {
      expect((error as ConfigError).variable).toBe(variable);
      expect((error as Error).message.startsWith(variable)).toBe(true);
    }
  });

  it("never echoes the token in an error", () => {
    try {
      loadWorkerConfig({ ...minimal, HIGHLEVEL_TOKEN: "tok-123", QUEUE_URL: "nope" });
      expect.unreachable();
    } catch (error) {
      expect(String(error)).not.toContain("tok-123");
    }
  });
});
