import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  SendMessageCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { messageGroupOf, parseDeletionJob } from "../producers/deletion-job.ts";
import { deadLetterReason } from "./dead-letter-inspection.ts";
import { QueueScan } from "./queue-scan.ts";
import { releaseMessages } from "./received-messages.ts";

export interface RedriveOptions {
  client: SQSClient;
  deadLetterQueueUrl: string;
  queueUrl: string;
  /** Only dead letters with this `failure-reason` ("unknown" for those SQS moved itself). */
  reason?: string;
  /** Stop after this many. */
  max?: number;
  /** Count what would move; move nothing. */
  dryRun?: boolean;
  /** Use SQS's StartMessageMoveTask when nothing is filtered (default true). */
  useMoveTask?: boolean;
  onProgress?: (progress: { moved: number; scanned: number; toMove?: number }) => void;
  signal?: AbortSignal;
  /** The long poll that confirms the dead-letter queue is read; default 1 s. */
  confirmWaitSeconds?: number;
}

export interface RedriveReport {
  method: "move-task" | "receive-send-delete";
  moved: number;
  matched: number;
  scanned: number;
  dryRun: boolean;
  /** Why the move task was not used, when it was wanted. */
  fallbackReason?: string;
  /**
   * Dead letters left on the queue because another reader held them (in flight) when the scan
   * ended: a later redrive moves them once they are released. Approximate, as SQS's counts are.
   */
  inFlight: number;
  /** Dead letters SQS still counted as visible after 20 s of empty long polls: not moved. */
  unreceived: number;
}

/**
 * Sends dead letters back to the source queue. Unfiltered, on AWS, it starts an SQS message
 * move task and follows its progress. Filtered (or where move tasks do not exist, as in
 * fauxqs) it receives, sends, then deletes each message, in that order: a crash can leave a
 * job on both queues, never on neither.
 *
 * @example
 * await redriveDeadLetters({ client, deadLetterQueueUrl, queueUrl, reason: "exhausted" });
 */
export async function redriveDeadLetters(options: RedriveOptions): Promise<RedriveReport> {
  const filtered = options.reason !== undefined || options.max !== undefined || options.dryRun;
  if (!filtered && options.useMoveTask !== false) {
    try {
      return await moveWithTask(options);
    } catch (error) {
      const fallbackReason =
        error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      const report = await receiveSendDelete(options);
      return { ...report, fallbackReason };
    }
  }
  return receiveSendDelete(options);
}

async function moveWithTask(options: RedriveOptions): Promise<RedriveReport> {
  const [sourceArn, destinationArn] = await Promise.all([
    queueArn(options.client, options.deadLetterQueueUrl),
    queueArn(options.client, options.queueUrl),
  ]);
  const started = await options.client.send(
    new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }),
  );
  for (;;) {
    const { Results } = await options.client.send(
      new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 10 }),
    );
    const task = Results?.find((t) => t.TaskHandle === started.TaskHandle) ?? Results?.[0];
    const moved = task?.ApproximateNumberOfMessagesMoved ?? 0;
    options.onProgress?.({
      moved,
      scanned: moved,
      toMove: task?.ApproximateNumberOfMessagesToMove ?? moved,
    });
    if (task?.Status === "COMPLETED" || task?.Status === "CANCELLED" || task?.Status === "FAILED") {
      if (task.Status === "FAILED")
        throw new Error(`the move task failed: ${task.FailureReason ?? "no reason given"}`);
      const { inFlight } = await new QueueScan({
        client: options.client,
        queueUrl: options.deadLetterQueueUrl,
        visibilityTimeoutSeconds: 0,
      }).counts();
      return {
        method: "move-task",
        moved,
        matched: moved,
        scanned: moved,
        dryRun: false,
        inFlight,
        unreceived: 0,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

async function receiveSendDelete(options: RedriveOptions): Promise<RedriveReport> {
  const { client, deadLetterQueueUrl, queueUrl } = options;
  const report: RedriveReport = {
    method: "receive-send-delete",
    moved: 0,
    matched: 0,
    scanned: 0,
    dryRun: !!options.dryRun,
    inFlight: 0,
    unreceived: 0,
  };
  const held: Message[] = [];
  /** Received and not yet moved: released with `held` if anything fails. */
  const pending = new Set<Message>();
  const seen = new Set<string>();
  const max = options.max ?? Number.POSITIVE_INFINITY;
  // The destination must exist before anything is received: a wrong --queue-url fails here.
  if (!options.dryRun) await queueArn(client, queueUrl);
  const scan = new QueueScan({
    client,
    queueUrl: deadLetterQueueUrl,
    // Long enough that messages passed over stay hidden until the scan ends.
    visibilityTimeoutSeconds: 300,
    ...(options.signal && { signal: options.signal }),
    ...(options.confirmWaitSeconds !== undefined && {
      confirmWaitSeconds: options.confirmWaitSeconds,
    }),
  });
  let complete = true;
  try {
    scanning: for await (const messages of scan.pages()) {
      for (const message of messages) pending.add(message);
      for (const message of messages) {
        pending.delete(message);
        const id = message.MessageId ?? "";
        if (seen.has(id)) {
          // Come round again: every message has been seen once.
          held.push(message);
          break scanning;
        }
        seen.add(id);
        report.scanned += 1;
        const matches =
          options.reason === undefined || deadLetterReason(message) === options.reason;
        if (!matches || options.dryRun || report.matched >= max) {
          if (matches && report.matched < max) report.matched += 1;
          held.push(message);
          continue;
        }
        report.matched += 1;
        // Until it is deleted from the DLQ, a failure releases it with the others.
        pending.add(message);
        // Send first, delete second: a crash in between leaves a duplicate, never a loss.
        const body = message.Body ?? "";
        const parsed = parseDeletionJob(body);
        await client.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: body,
            // Kept as a move task keeps them: the worker reads `failure-reason` to count the
            // job once in its run (its new outcome replaces the dead letter).
            ...(message.MessageAttributes && { MessageAttributes: message.MessageAttributes }),
            ...(parsed.ok && { MessageGroupId: messageGroupOf(parsed.job) }),
          }),
        );
        await client.send(
          new DeleteMessageCommand({
            QueueUrl: deadLetterQueueUrl,
            ReceiptHandle: message.ReceiptHandle ?? "",
          }),
        );
        pending.delete(message);
        report.moved += 1;
        options.onProgress?.({ moved: report.moved, scanned: report.scanned });
      }
      if (report.matched >= max || options.signal?.aborted) {
        complete = false;
        break;
      }
    }
    report.unreceived = scan.unreceived;
    if (complete) report.inFlight = await scan.heldByOthers(held.length + pending.size);
  } finally {
    // Whatever was received and not moved is visible again at once, even after a failure.
    await releaseMessages(client, deadLetterQueueUrl, [...held, ...pending]);
  }
  return report;
}

async function queueArn(client: SQSClient, queueUrl: string): Promise<string> {
  const { Attributes } = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
  );
  if (!Attributes?.QueueArn) throw new Error(`no ARN for ${queueUrl}`);
  return Attributes.QueueArn;
}
