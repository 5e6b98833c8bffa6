import {
  EventBus,
  EventField,
  type IEventBus,
  Rule,
  RuleTargetInput,
} from "aws-cdk-lib/aws-events";
import { SqsQueue } from "aws-cdk-lib/aws-events-targets";
import type { IQueue } from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

export interface DeletionEventsProps {
  queue: IQueue;
  eventBus?: IEventBus;
  eventSources: string[];
  detailType: string;
}

/**
 * Event-driven cleanup: `CSV Deletion Requested` events become jobs. An event whose detail
 * names its `runId` goes on as it is; one without gets the event's time (`eventTime`), so that
 * the worker counts it under that UTC day's run, `events-YYYY-MM-DD`.
 */
export class DeletionEvents extends Construct {
  /** Events that name their run. */
  readonly withRunRule: Rule;
  /** Events that do not: counted per UTC day. */
  readonly perDayRule: Rule;

  constructor(scope: Construct, id: string, props: DeletionEventsProps) {
    super(scope, id);
    const eventBus = props.eventBus ?? EventBus.fromEventBusName(this, "DefaultBus", "default");
    const pattern = { source: props.eventSources, detailType: [props.detailType] };
    this.withRunRule = new Rule(this, "WithRunId", {
      description: `Turns "${props.detailType}" events that name their runId into deletion jobs`,
      eventBus,
      eventPattern: { ...pattern, detail: { runId: [{ exists: true }] } },
      targets: [new SqsQueue(props.queue, { message: RuleTargetInput.fromEventPath("$.detail") })],
    });
    this.perDayRule = new Rule(this, "PerDay", {
      description: `Turns "${props.detailType}" events into deletion jobs of that day's run`,
      eventBus,
      eventPattern: { ...pattern, detail: { runId: [{ exists: false }] } },
      targets: [
        new SqsQueue(props.queue, {
          message: RuleTargetInput.fromObject({
            locationId: EventField.fromPath("$.detail.locationId"),
            csvId: EventField.fromPath("$.detail.csvId"),
            reason: EventField.fromPath("$.detail.reason"),
            requestedBy: EventField.fromPath("$.detail.requestedBy"),
            correlationId: EventField.fromPath("$.detail.correlationId"),
            eventTime: EventField.time,
          }),
        }),
      ],
    });
  }
}
