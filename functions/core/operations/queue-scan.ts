import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";

export interface QueueScanOptions {
  client: SQSClient;
  queueUrl: string;
  /** How long received messages stay hidden from other readers while the scan goes on. */
  visibilityTimeoutSeconds: number;
  /** Receive at most this many in all. */
  maxMessages?: number;
  /** The long poll that confirms an empty answer (SQS allows up to 20 s). Default 1 s. */
  confirmWaitSeconds?: number;
  /** After this long without a message while SQS still counts some visible, stop. Default 20 s. */
  giveUpAfterMs?: number;
  signal?: AbortSignal;
}

/** Long polls in a row that must come back empty, with SQS counting none visible, to end a scan. */
const CONFIRMATIONS = 2;

/**
 * Reads a queue to its end. On SQS an empty short poll does not mean an empty queue (it asks a
 * sample of SQS's servers), so an empty answer is followed by long polls (which ask them all)
 * and by the queue's approximate counts: the scan ends when two long polls in a row find
 * nothing and SQS counts no visible message. Messages received stay hidden for
 * `visibilityTimeoutSeconds`; releasing or deleting them is the caller's.
 *
 * @example
 * const scan = new QueueScan({ client, queueUrl: dlqUrl, visibilityTimeoutSeconds: 60 });
 * for await (const messages of scan.pages()) held.push(...messages);
 * const othersHold = await scan.heldByOthers(held.length);
 */
export class QueueScan {
  readonly #options: QueueScanOptions;
  #received = 0;
  /** Messages SQS still counted as visible when the scan gave up receiving them. */
  unreceived = 0;

  constructor(options: QueueScanOptions) {
    this.#options = options;
  }

  async *pages(): AsyncGenerator<Message[]> {
    const { client, queueUrl, signal } = this.#options;
    const max = this.#options.maxMessages ?? Number.POSITIVE_INFINITY;
    const confirmWait = this.#options.confirmWaitSeconds ?? 1;
    const giveUpAfterMs = this.#options.giveUpAfterMs ?? 20_000;
    let emptyLongPolls = 0;
    let emptySince: number | undefined;
    while (this.#received < max && !signal?.aborted) {
      const waitSeconds = emptySince === undefined ? 0 : confirmWait;
      const { Messages } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, max - this.#received),
          VisibilityTimeout: this.#options.visibilityTimeoutSeconds,
          WaitTimeSeconds: waitSeconds,
          MessageAttributeNames: ["All"],
          MessageSystemAttributeNames: ["All"],
        }),
        // No abort signal here: a stop ends the scan between polls (each waits at most
        // `confirmWaitSeconds`), never with an AbortError that would read as a failure.
      );
      const messages = Messages ?? [];
      if (messages.length > 0) {
        emptyLongPolls = 0;
        emptySince = undefined;
        this.#received += messages.length;
        yield messages;
        continue;
      }
      emptySince ??= Date.now();
      if (waitSeconds > 0) emptyLongPolls += 1;
      if (emptyLongPolls < CONFIRMATIONS) continue;
      const { visible } = await this.counts();
      if (visible === 0) return;
      if (Date.now() - emptySince >= giveUpAfterMs) {
        this.unreceived = visible;
        return;
      }
    }
  }

  /**
   * Messages on the queue that another reader holds (in flight): SQS's count of hidden messages
   * less the `ownHeld` this scan holds. Approximate, as SQS's counts are.
   */
  async heldByOthers(ownHeld: number): Promise<number> {
    const { inFlight } = await this.counts();
    return Math.max(0, inFlight - ownHeld);
  }

  async counts(): Promise<{ visible: number; inFlight: number }> {
    const { Attributes } = await this.#options.client.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.#options.queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return {
      visible: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }
}
