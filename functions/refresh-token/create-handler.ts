import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import middy from "@middy/core";
import { createOAuthClient } from "../core/auth/oauth-client.ts";
import { dynamoRefreshLease } from "../core/auth/refresh-lease.ts";
import { secretsManagerStore } from "../core/auth/secret-stores.ts";
import { type RefreshReport, refreshTokens } from "../core/auth/token-refresher.ts";
import { AWS_REQUEST_TIMEOUTS } from "../core/aws-timeouts.ts";
import { loadRefresherConfig } from "../core/config.ts";
import { METRIC } from "../core/metric-names.ts";
import { logger, metrics } from "../core/observability.ts";

export interface RefresherOverrides {
  secretsManager?: SecretsManagerClient;
  dynamoDb?: DynamoDBClient;
}

/**
 * The token refresher (hourly, and `ghl-csv-purge auth refresh`): renews the OAuth tokens of
 * the secret that expire within 6 h, under the refresh lease. Emits `TokensRefreshed` and
 * `TokenRefreshFailed`; logs which token and why, never a token.
 */
export function createRefreshTokenHandler(
  env: Record<string, string | undefined>,
  overrides: RefresherOverrides = {},
) {
  const config = loadRefresherConfig(env);
  const clients = (async () => {
    const { SecretsManagerClient } = await import("@aws-sdk/client-secrets-manager");
    const { DynamoDBClient } = await import("@aws-sdk/client-dynamodb");
    return {
      secrets:
        overrides.secretsManager ??
        new SecretsManagerClient({
          requestHandler: AWS_REQUEST_TIMEOUTS,
          ...(config.secretsEndpoint && { endpoint: config.secretsEndpoint }),
        }),
      dynamoDb:
        overrides.dynamoDb ??
        new DynamoDBClient({
          requestHandler: AWS_REQUEST_TIMEOUTS,
          ...(config.dynamoDbEndpoint && { endpoint: config.dynamoDbEndpoint }),
        }),
    };
  })();

  const refresh = async (): Promise<RefreshReport> => {
    const { secrets, dynamoDb } = await clients;
    const report = await refreshTokens({
      store: secretsManagerStore(secrets, config.secretArn),
      lease: dynamoRefreshLease(dynamoDb, config.coordinationTable, config.secretArn),
      oauth: (secret) =>
        createOAuthClient({
          baseUrl: config.highLevelBaseUrl,
          clientId: secret.clientId,
          clientSecret: secret.clientSecret,
        }),
    });
    metrics.addMetric(METRIC.tokensRefreshed, MetricUnit.Count, report.refreshed);
    metrics.addMetric(METRIC.tokenRefreshFailed, MetricUnit.Count, report.failed);
    if (report.leaseHeld) logger.info("another refresher holds the lease: nothing to do");
    for (const outcome of report.outcomes) {
      const log =
        outcome.result === "refreshed" || outcome.result === "not-due" ? logger.info : logger.warn;
      log.call(logger, `token ${outcome.result}`, { ...outcome });
    }
    return report;
  };

  return middy(refresh)
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics));
}
