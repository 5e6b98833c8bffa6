import { MEMORY_GB, PRICE } from "./cost-model.ts";
import type { FleetResult } from "./fleet-drain.ts";

/**
 * DynamoDB on-demand, us-east-1 list prices: $0.625 per million write units (a write costs a unit
 * per KB of its item), $0.125 per million reads.
 */
const TABLE_PRICE = { write: 0.625 / 1e6, read: 0.125 / 1e6 };
/** SQS sends, receives and deletes at most 10 messages per request. */
const SQS_BATCH = 10;

/**
 * What one fleet case costs per million deletions, from its own counts: Lambda duration (the
 * time inside invocations, at the stack's memory) and requests, SQS requests (enqueue, receive
 * and delete a tenth each per job; a hand-back one ChangeMessageVisibility and a tenth of the
 * receive that brings it back; a deferral a send, a delete and a tenth of a receive) and the
 * coordination table's writes and reads.
 */
export function fleetCost(r: FleetResult) {
  const perDeletion = (count: number) => count / Math.max(1, r.deleted);
  const gbSeconds = r.busySeconds * MEMORY_GB;
  const lambda =
    1e6 *
    (perDeletion(gbSeconds) * PRICE.lambdaGbSecond +
      perDeletion(r.invocations) * PRICE.lambdaRequest);
  const sqsRequests =
    3 / SQS_BATCH +
    perDeletion(r.handedBack) * (1 + 1 / SQS_BATCH) +
    perDeletion(r.deferred) * (2 + 1 / SQS_BATCH);
  const sqs = 1e6 * sqsRequests * PRICE.sqsRequest;
  const table =
    1e6 *
    (r.tableWriteUnitsPerDeletion * TABLE_PRICE.write + r.tableReadsPerDeletion * TABLE_PRICE.read);
  return {
    gbSecondsPerMillion: 1e6 * perDeletion(gbSeconds),
    lambda,
    sqs,
    table,
    total: lambda + sqs + table,
  };
}
