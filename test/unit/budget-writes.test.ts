import { describe, expect, it } from "vitest";
import { mergeWrites } from "../../functions/core/highlevel/budget-writes.ts";

const attributeOf = (key: string, field: string) => `${field[0]}#${key.split(":")[0]}`;

describe("mergeWrites", () => {
  it("gives each budget's names and values their own suffix and joins their conditions with AND", () => {
    const merged = mergeWrites(
      [
        {
          key: "locA:fp",
          expression: "SET tat = tat + :span, #ttl = :ttl",
          values: { ":span": { N: "100" }, ":floor": { N: "1" } },
          condition: "tat BETWEEN :floor AND :span AND attribute_exists(spacing)",
          deadline: 0,
        },
        {
          key: "locB:fp",
          expression: "SET tat = if_not_exists(spacing, :step) + :start, #ttl = :ttl",
          values: { ":step": { N: "2000" }, ":start": { N: "5" } },
          condition: "attribute_not_exists(dailyUntil) OR dailyUntil < :start",
          deadline: 0,
        },
      ],
      attributeOf,
    );

    expect(merged.expression).toBe(
      "SET #tat_0 = #tat_0 + :span_0, #tat_1 = if_not_exists(#spacing_1, :step_1) + :start_1, #ttl = :ttl",
    );
    expect(merged.condition).toBe(
      "(#tat_0 BETWEEN :floor_0 AND :span_0 AND attribute_exists(#spacing_0)) AND " +
        "(attribute_not_exists(#dailyUntil_1) OR #dailyUntil_1 < :start_1)",
    );
    expect(merged.names).toEqual({
      "#ttl": "ttl",
      "#tat_0": "t#locA",
      "#spacing_0": "s#locA",
      "#tat_1": "t#locB",
      "#spacing_1": "s#locB",
      "#dailyUntil_1": "d#locB",
    });
    expect(Object.keys(merged.values).sort()).toEqual([
      ":floor_0",
      ":span_0",
      ":start_1",
      ":step_1",
    ]);
  });

  it("refuses an update that is not a SET (it could not be merged safely)", () => {
    expect(() =>
      mergeWrites(
        [{ key: "a:f", expression: "REMOVE tat", values: {}, condition: undefined, deadline: 0 }],
        attributeOf,
      ),
    ).toThrow(/must be a SET expression/);
  });
});
