import type { Duration } from "aws-cdk-lib";
import { Metric } from "aws-cdk-lib/aws-cloudwatch";
import { METRIC_NAMESPACE, METRIC_SERVICE } from "../functions/core/metric-names.ts";

/** A custom metric the functions emit (functions/core/metric-names.ts), summed over `period`. */
export function pipelineMetric(
  metricName: string,
  period: Duration,
  extra: { label?: string; statistic?: string } = {},
): Metric {
  return new Metric({
    namespace: METRIC_NAMESPACE,
    metricName,
    dimensionsMap: { service: METRIC_SERVICE },
    statistic: extra.statistic ?? "Sum",
    period,
    ...(extra.label && { label: extra.label }),
  });
}
