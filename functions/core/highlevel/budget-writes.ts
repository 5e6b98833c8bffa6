import type { AttributeValue } from "@aws-sdk/client-dynamodb";

/**
 * A budget's own attributes, as `slot-booking.ts` and `fleet-budget.ts` name them in their
 * expressions, and the prefix each has in its shard item (`t#<locationId>`, …): short, since
 * attribute names count towards an item's size and so towards every write's cost.
 */
export const BUDGET_FIELDS = { tat: "t", spacing: "s", slack: "k", dailyUntil: "d" } as const;
export type BudgetField = keyof typeof BUDGET_FIELDS;

type Item = Record<string, AttributeValue>;
/** A budget's attributes after an update, or as they stood when its condition failed. */
export type UpdateAnswer = { ok: true; item: Item } | { ok: false; item: Item | undefined };

/** One budget's conditional update, waiting to go with others that share its shard item. */
export interface BudgetWrite {
  key: string;
  /** `SET …` naming the budget's attributes as `tat`, `spacing`, `slack`, `dailyUntil`. */
  expression: string;
  values: Record<string, AttributeValue>;
  condition: string | undefined;
  deadline: number;
  resolve?: (answer: UpdateAnswer) => void;
  reject?: (error: unknown) => void;
}

const FIELD = /(?<![#:\w])(tat|spacing|slack|dailyUntil)\b/g;
const VALUE = /:(\w+)/g;
const TTL = /,\s*#ttl = :ttl\b/;

/**
 * Several budgets' updates as one `UpdateItem` on their shard item: each write's attribute names
 * and values get its own suffix, the `SET` clauses are joined, and so are the conditions (with
 * AND: the write succeeds only if every budget's condition holds). `#ttl = :ttl` is set once.
 *
 * @example
 * mergeWrites([{ key: "a:f", expression: "SET tat = tat + :span, #ttl = :ttl", … }], place)
 * // { expression: "SET #tat_0 = #tat_0 + :span_0, #ttl = :ttl", names: { "#tat_0": "t#a", … } }
 */
export function mergeWrites(
  writes: readonly BudgetWrite[],
  attributeOf: (key: string, field: BudgetField) => string,
) {
  const names: Record<string, string> = { "#ttl": "ttl" };
  const values: Record<string, AttributeValue> = {};
  const clauses: string[] = [];
  const conditions: string[] = [];
  writes.forEach((write, n) => {
    if (!write.expression.startsWith("SET ")) {
      throw new Error(`a budget update must be a SET expression: ${write.expression}`);
    }
    const rename = (text: string) =>
      text
        .replace(FIELD, (_, field: BudgetField) => {
          names[`#${field}_${n}`] = attributeOf(write.key, field);
          return `#${field}_${n}`;
        })
        .replace(VALUE, (whole, name: string) => (name === "ttl" ? whole : `:${name}_${n}`));
    clauses.push(rename(write.expression.slice(4).replace(TTL, "")));
    if (write.condition) conditions.push(`(${rename(write.condition)})`);
    for (const [name, value] of Object.entries(write.values)) {
      values[`${name}_${n}`] = value;
    }
  });
  return {
    expression: `SET ${clauses.join(", ")}, #ttl = :ttl`,
    condition: conditions.length > 0 ? conditions.join(" AND ") : undefined,
    names,
    values,
  };
}
