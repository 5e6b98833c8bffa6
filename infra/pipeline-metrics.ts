import type { Duration } from "aws-cdk-lib";
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  Metric,
  TreatMissingData,
} from "aws-cdk-lib/aws-cloudwatch";
import type { Construct } from "constructs";
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

/**
 * An alarm that fires when `metric` is at least 1 in each of `periods` periods (default one);
 * no data is not a breach. Most of the pipeline's alarms are of this kind.
 */
export function alarmOnAny(
  scope: Construct,
  id: string,
  props: { description: string; metric: IMetric; periods?: number },
): Alarm {
  return new Alarm(scope, id, {
    alarmDescription: props.description,
    metric: props.metric,
    threshold: 1,
    evaluationPeriods: props.periods ?? 1,
    ...(props.periods && { datapointsToAlarm: props.periods }),
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
}
