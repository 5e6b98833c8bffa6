/**
 * Every custom metric the functions emit (CloudWatch EMF, namespace `GhlCsvPurge`, dimension
 * `service` = `ghl-csv-purge`). The stack's dashboard and alarms name metrics only from here.
 */
export const METRIC_NAMESPACE = "GhlCsvPurge";
export const METRIC_SERVICE = "ghl-csv-purge";

export const METRIC = {
  deleted: "Deleted",
  alreadyAbsent: "AlreadyAbsent",
  deadLettered: "DeadLettered",
  deferred: "Deferred",
  redelivered: "Redelivered",
  duplicateRemoved: "DuplicateRemoved",
  handedBack: "HandedBack",
  duplicateInBatch: "DuplicateInBatch",
  tokenExpired: "TokenExpired",
  highLevelCalls: "HighLevelCalls",
  highLevelThrottled: "HighLevelThrottled",
  highLevelRetries: "HighLevelRetries",
  /** Result lines a write could not store (counted in the run's `resultsMissing` when given up). */
  resultsMissing: "ResultsMissing",
  /** Result lines or run counts a write could not store (most go on as settlements, below). */
  runRecordsHeld: "RunRecordsHeld",
  /** Settled jobs sent back to the queue with the result their run lacks (a settlement). */
  resultsSentBack: "ResultsSentBack",
  /** A scheduled purge ran out of time before starting these locations (its next run starts with them). */
  purgeLocationsNotReached: "PurgeLocationsNotReached",
  /** Locations a purge left for its next run: not reached, or stopped early (not a refused token). */
  purgeLocationsLeft: "PurgeLocationsLeft",
  tokensRefreshed: "TokensRefreshed",
  tokenRefreshFailed: "TokenRefreshFailed",
} as const;
