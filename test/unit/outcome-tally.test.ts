import { describe, expect, it } from "vitest";
import { OutcomeTally } from "../../local/outcome-tally.ts";

describe("OutcomeTally", () => {
  it("counts a message's end once: a redelivery after an overrun invocation is its echo", () => {
    const tally = new OutcomeTally();
    // The abandoned invocation deleted m-1; SQS delivered it again and the next found it gone.
    tally.record({ messageId: "m-1", outcome: "deleted", calls: 1 });
    tally.record({ messageId: "m-1", outcome: "already-absent", calls: 2 });
    tally.record({ messageId: "m-2", outcome: "redelivered", calls: 3 });
    tally.record({ messageId: "m-2", outcome: "deleted", calls: 1 });
    tally.record({ messageId: "m-3", outcome: "dead-lettered", reason: "rejected", calls: 1 });
    tally.record({ messageId: "m-3", outcome: "dead-lettered", reason: "rejected", calls: 1 });
    expect(tally).toMatchObject({ deleted: 2, alreadyAbsent: 0, redelivered: 1, calls: 9 });
    expect(tally.deadLettered).toEqual({ rejected: 1 });
    expect(tally.finished).toBe(3);
  });

  it("counts a job once when both its deferral and the message it replaced end", () => {
    const tally = new OutcomeTally();
    // m-1 was deferred as d-1, but its invocation stopped before removing it: both came back.
    tally.record({ messageId: "m-1", outcome: "deleted", calls: 1 });
    tally.record({ messageId: "d-1", originId: "m-1", outcome: "already-absent", calls: 1 });
    tally.record({ messageId: "d-2", originId: "m-2", outcome: "deleted", calls: 1 });
    expect(tally).toMatchObject({ deleted: 2, alreadyAbsent: 0 });
    expect(tally.finished).toBe(2);
  });

  it("counts a removed copy once when it comes back after its invocation overran", () => {
    const tally = new OutcomeTally();
    // c-1 was removed for its first copy's sake; the removal failed and the invocation
    // overran, so SQS delivered c-1 again, alone, and it found the upload gone.
    tally.record({ messageId: "c-1", outcome: "duplicate-removed", duplicate: true, calls: 0 });
    tally.record({ messageId: "c-1", outcome: "already-absent", calls: 1 });
    expect(tally).toMatchObject({ duplicatesRemoved: 1, alreadyAbsent: 0 });
    expect(tally.finished + tally.duplicatesRemoved).toBe(1);
  });
});
