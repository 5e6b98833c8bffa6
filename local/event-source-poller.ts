import { setTimeout as sleep } from "node:timers/promises";
import { type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import { deleteMessages, releaseMessages } from "../functions/core/operations/received-messages.ts";
import { runInvocation } from "./invocation-scope.ts";
import { toSqsEvent } from "./sqs-event.ts";

export type SqsHandler = (
  event: SQSEvent,
  context: Context,
) => Promise<SQSBatchResponse | undefined>;

export interface PollerOptions {
  client: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: SqsHandler;
  /** Messages per invocation (Lambda's BatchSize). */
  batchSize: number;
  /** How long to gather a batch once the first message arrived (MaximumBatchingWindowInSeconds). */
  batchingWindowMs: number;
  /** Invocations in flight at once (ScalingConfig.MaximumConcurrency). */
  maxConcurrency: number;
  /** The function timeout: the context's deadline and the point where an invocation is abandoned. */
  functionTimeoutMs: number;
  /** Told when `stop()` begins, before the batches in flight finish (they may wind up sooner). */
  onStop?: () => void;
  onBatch?: (info: {
    size: number;
    failures: number;
    crashed: boolean;
    durationMs: number;
    /**
     * This process's CPU time over the invocation, ms: the handler's alone when the poller runs
     * one invocation at a time (`maxConcurrency: 1`), as a Lambda container does.
     */
    cpuMs: number;
  }) => void;
}

/**
 * A small stand-in for Lambda's SQS event source, to run the real handler on this machine:
 *
 * 1. each of `maxConcurrency` lanes long-polls the queue and gathers up to `batchSize`
 *    messages within the batching window;
 * 2. it invokes the handler with an SQS event and a context whose deadline is the timeout;
 * 3. it deletes the messages not named in `batchItemFailures` — all of them are left when the
 *    handler throws or overruns its timeout — and the queue's visibility timeout and redrive
 *    policy do the rest, as in AWS.
 *
 * `stop()` is graceful (Ctrl-C): batches in flight finish; messages received but not started
 * are made visible again, so a resumed run finds them at once.
 *
 * Differences from AWS: one process, no scaling up or down of lanes, no function instances.
 * A timed-out invocation cannot be killed here: it runs in a scope the poller ends at the
 * timeout (`invocation-scope.ts`), and the clients built with `refuseStoppedInvocations`
 * send nothing for it afterwards, as nothing happens after Lambda's kill; its result is ignored.
 */
export class EventSourcePoller {
  readonly #options: PollerOptions;
  #running = false;
  #crashed = false;
  #lanes: Promise<void>[] = [];
  #abort = new AbortController();
  #invocations = 0;
  #inFlight = 0;

  constructor(options: PollerOptions) {
    this.#options = options;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#lanes = Array.from({ length: this.#options.maxConcurrency }, () => this.#lane());
  }

  /**
   * Takes no new batch, lets the batches in flight finish (and delete what they settled), and
   * hands back at once any message received but not yet passed to the handler.
   */
  async stop(): Promise<void> {
    this.#running = false;
    this.#options.onStop?.();
    await Promise.all(this.#lanes);
  }

  /**
   * Stops as a crashed process would: batches in flight are lost (their messages are neither
   * deleted nor released, so they come back after the visibility timeout). For tests.
   */
  crash(): void {
    this.#crashed = true;
    this.#running = false;
    this.#abort.abort();
  }

  async #lane(): Promise<void> {
    // Like Lambda's event source, a lane deletes what a batch settled while it gathers and runs
    // the next: the function waits on the queue only to get work, never after finishing it.
    const deletions = new Set<Promise<void>>();
    try {
      await this.#poll(deletions);
    } finally {
      await Promise.all(deletions);
    }
  }

  async #poll(deletions: Set<Promise<void>>): Promise<void> {
    while (this.#running) {
      let messages: Message[];
      try {
        messages = await this.#gatherBatch();
      } catch {
        if (!this.#running) return;
        await pause(500);
        continue;
      }
      if (messages.length === 0) continue;
      if (!this.#running) {
        if (!this.#crashed)
          await releaseMessages(this.#options.client, this.#options.queueUrl, messages);
        return;
      }
      const settled = await this.#invoke(messages);
      if (settled === undefined) continue;
      const deletion = this.#delete(settled).finally(() => deletions.delete(deletion));
      deletions.add(deletion);
    }
  }

  async #gatherBatch(): Promise<Message[]> {
    const { batchSize, batchingWindowMs } = this.#options;
    // The first receive waits for work; once some came, the rest is fetched by several
    // receives at once, as Lambda's pollers do.
    const batch = await this.#receive(Math.min(10, batchSize), 1);
    if (batch.length === 0) return batch;
    const windowEndsAt = Date.now() + batchingWindowMs;
    // Several receives at once only while the queue fills them: a queue running dry is asked
    // once per round, not twenty times every 50 ms.
    let full = batch.length === Math.min(10, batchSize);
    while (this.#running && batch.length < batchSize && Date.now() < windowEndsAt) {
      const wanted = batchSize - batch.length;
      const parallel = full ? Math.min(20, Math.ceil(wanted / 10)) : 1;
      const receives = Array.from({ length: parallel }, (_, i) =>
        this.#receive(Math.min(10, wanted - i * 10), 0),
      );
      const received = (await Promise.all(receives)).flat();
      batch.push(...received);
      full = received.length === Math.min(wanted, parallel * 10);
      if (received.length === 0) {
        await pause(Math.min(50, Math.max(0, windowEndsAt - Date.now())));
      }
    }
    return batch;
  }

  async #receive(count: number, waitSeconds: number): Promise<Message[]> {
    const { client, queueUrl } = this.#options;
    const received = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: count,
        WaitTimeSeconds: waitSeconds,
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
      { abortSignal: this.#abort.signal },
    );
    return received.Messages ?? [];
  }

  /** Runs one invocation; resolves with what to delete and when to report it. */
  async #invoke(
    messages: Message[],
  ): Promise<{ messages: Message[]; report: () => void } | undefined> {
    const { handler, functionTimeoutMs, queueArn } = this.#options;
    const started = Date.now();
    const cpuAtStart = process.cpuUsage();
    const deadline = started + functionTimeoutMs;
    this.#inFlight += 1;
    let failedIds: Set<string> | undefined;
    const timer = new AbortController();
    const stopped = new AbortController();
    const invocation = runInvocation(stopped.signal, () =>
      handler(toSqsEvent(messages, queueArn), lambdaContext(deadline, ++this.#invocations)),
    );
    try {
      const response = await Promise.race([
        invocation,
        sleep(functionTimeoutMs, "timed-out" as const, { signal: timer.signal }),
      ]);
      if (response === "timed-out") {
        stopped.abort();
        // It winds up in the background, every request refused; nothing may wait for it.
        invocation.catch(() => {});
      } else {
        failedIds = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
      }
    } catch {
      // Like Lambda: a handler that throws fails the whole batch.
    } finally {
      timer.abort();
      this.#inFlight -= 1;
    }
    const cpu = process.cpuUsage(cpuAtStart);
    if (this.#crashed) return undefined;
    const settled = failedIds
      ? messages.filter((message) => !failedIds.has(message.MessageId ?? ""))
      : [];
    const durationMs = Date.now() - started;
    return {
      messages: settled,
      report: () =>
        this.#options.onBatch?.({
          size: messages.length,
          failures: messages.length - settled.length,
          crashed: failedIds === undefined,
          durationMs,
          cpuMs: (cpu.user + cpu.system) / 1000,
        }),
    };
  }

  /** Deletes what an invocation settled, then reports the batch (once its messages are gone). */
  async #delete(settled: { messages: Message[]; report: () => void }): Promise<void> {
    try {
      await deleteMessages(this.#options.client, this.#options.queueUrl, settled.messages);
    } catch {
      // As in AWS: a failed delete leaves the messages to come back after their visibility timeout.
    }
    settled.report();
  }
}

function lambdaContext(deadline: number, invocation: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: "ghl-csv-purge-local",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:local:000000000000:function:ghl-csv-purge-local",
    memoryLimitInMB: "256",
    awsRequestId: `local-${invocation}`,
    logGroupName: "local",
    logStreamName: "local",
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

function pause(ms: number): Promise<void> {
  return sleep(ms);
}
