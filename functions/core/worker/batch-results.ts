import {
  type EntryParts,
  emptyFlushReport,
  type FlushReport,
  type RunEntry,
  type RunRecorder,
} from "../runs/run-recorder.ts";
import { MAX_SETTLEMENT_ROUNDS, type Settlement } from "./settlement.ts";

/** The results write ends this long before the invocation's deadline. */
export const RESULTS_WRITE_MARGIN_MS = 100;
/** Kept after the results write for sending what it could not store back as settlements (at most). */
export const SETTLEMENT_SEND_RESERVE_MS = 300;

/** A message the batch settled, and what its run is told of it. */
export interface SettledMessage {
  messageId: string;
  receiveCount: number;
  /** The job's body, as a settlement sends it back. */
  body: string;
  /** The job's first message, when this one is a deferral or settlement of it. */
  originId?: string;
  entry: RunEntry;
  /** Gone from the queue already (a dead letter, a removed copy): only its result can be sent. */
  parked?: boolean;
  /** What of `entry` its run lacks; all of it unless said (see `settlement`). */
  parts?: EntryParts;
  /** The settlement the message carried: only its missing parts are stored. */
  settlement?: Settlement;
}

export interface BatchResults {
  report: FlushReport;
  /** Messages to leave on the queue: what their run lacks of them could not be sent on. */
  comeBack: string[];
  /** Messages whose missing row or count went back on the queue as a settlement. */
  resent: number;
  /** Results left with the container: neither stored, sent on, nor brought back. */
  held: number;
}

export type SendSettlements = (
  items: readonly { message: SettledMessage; settlement: Settlement }[],
  deadline: number,
) => Promise<Set<string>>;

/**
 * Writes the results of the messages a batch settled before those messages leave the queue,
 * so that no job leaves it without its row in the run's report and its count in the run's
 * record. What a write could not store goes back on the queue as a settlement (the job's body
 * with its result: its next delivery stores what is missing and calls nobody). Only when that
 * send fails too does a message come back as it was (its next delivery finds the upload gone
 * and writes the row), or, on its last receive or parked already, is its result held by the
 * container. An
 * invocation already past its deadline writes nothing: Lambda has failed it and all its
 * messages come back.
 */
export async function recordBatchResults(
  runs: Pick<RunRecorder, "add" | "flush" | "withdraw" | "counting">,
  settled: readonly SettledMessage[],
  options: { remainingMs: number; maxReceiveCount: number; send: SendSettlements },
): Promise<BatchResults> {
  const nothing = { report: emptyFlushReport(), comeBack: [], resent: 0, held: 0 };
  if (options.remainingMs <= 0) return nothing;
  const answerBy = Date.now() + options.remainingMs - RESULTS_WRITE_MARGIN_MS;
  for (const { messageId, entry, parts, settlement } of settled) {
    runs.add(messageId, entry, {
      ...(parts && { parts }),
      ...(settlement && { parts: settlement.missing, as: settlement }),
    });
  }
  // A short invocation's last moments are shared: two thirds to write, one to send on.
  const writeBy = answerBy - Math.min(SETTLEMENT_SEND_RESERVE_MS, (answerBy - Date.now()) / 3);
  const allRuns = [...new Set(settled.map((s) => s.entry.runId))];
  const report =
    writeBy > Date.now()
      ? await runs.flush(writeBy)
      : {
          ...emptyFlushReport(),
          runsUnstored: allRuns,
          runsUncounted: runs.counting ? allRuns : [],
        };
  const unstored = new Set(report.runsUnstored);
  const uncounted = new Set(report.runsUncounted);
  const lacking = settled.flatMap((message) => {
    const asked = message.settlement?.missing ?? message.parts ?? { line: true, count: true };
    const missing: EntryParts = {
      line: asked.line && message.entry.line !== undefined && unstored.has(message.entry.runId),
      count: asked.count && uncounted.has(message.entry.runId),
    };
    return missing.line || missing.count ? [{ message, missing }] : [];
  });
  if (lacking.length === 0) return { ...nothing, report };

  const settlements = lacking
    .map(({ message, missing }) => ({
      message,
      missing,
      settlement: {
        entry: message.entry,
        missing,
        messageId: message.settlement?.messageId ?? message.messageId,
        finishedAt: message.settlement?.finishedAt ?? new Date().toISOString(),
        rounds: (message.settlement?.rounds ?? 0) + 1,
      } satisfies Settlement,
    }))
    .filter(({ settlement }) => settlement.rounds <= MAX_SETTLEMENT_ROUNDS);
  const sent =
    settlements.length > 0 && answerBy > Date.now()
      ? await options.send(settlements, answerBy).catch(() => new Set<string>())
      : new Set<string>();
  const comeBack: string[] = [];
  let held = 0;
  for (const { message, missing } of lacking) {
    const carried = sent.has(message.messageId);
    const comesBack = !carried && !message.parked && message.receiveCount < options.maxReceiveCount;
    // A message that carries what is missing (a new settlement, or a settlement coming back)
    // takes it from the container: held here as well, it would be stored twice.
    if (carried || (comesBack && message.settlement)) {
      runs.withdraw(message.messageId, message.entry, missing);
    }
    if (comesBack) comeBack.push(message.messageId);
    else if (!carried) {
      held += 1;
    }
  }
  return { report, comeBack, resent: sent.size, held };
}
