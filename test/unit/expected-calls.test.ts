import { describe, expect, it } from "vitest";
import { ExpectedCalls, locationOf } from "../../functions/core/highlevel/expected-calls.ts";

describe("ExpectedCalls", () => {
  it("keeps a location's expected calls less the slots held, until booked", () => {
    const expected = new ExpectedCalls();
    expected.add("loc1", 20, 3, 1_000);
    expect(expected.pending("loc1:ab12", 1_000)).toBe(17);
    expected.add("loc1", 5, 0, 1_000);
    expect(expected.pending("loc1:cd34", 1_000)).toBe(22);
    expected.booked("loc1:ab12", 20);
    expect(expected.pending("loc1:ab12", 1_000)).toBe(2);
    expected.booked("loc1:ab12", 2);
    expect(expected.pending("loc1:ab12", 1_000)).toBeUndefined();
  });

  it("forgets an expectation after 30 s, and one its held slots cover", () => {
    const expected = new ExpectedCalls();
    expected.add("loc1", 10, 0, 0);
    expect(expected.pending("loc1:ab12", 29_999)).toBe(10);
    expect(expected.pending("loc1:ab12", 30_000)).toBeUndefined();
    expected.add("loc2", 4, 4, 0);
    expect(expected.pending("loc2:ab12", 0)).toBeUndefined();
  });

  it("reads the location of a key whose location id holds colons", () => {
    expect(locationOf("a:b:fingerprint")).toBe("a:b");
    expect(locationOf("plain")).toBe("plain");
  });
});
