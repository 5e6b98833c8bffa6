import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { JobFileError, readJobRecords } from "../../functions/core/producers/job-file.ts";
import { locationsFrom } from "../../functions/core/producers/locations-file.ts";
import { InputFileError } from "../../functions/core/text/csv-reader.ts";
import { csvRow } from "../../functions/core/text/csv-writer.ts";
import { printable } from "../../functions/core/text/printable.ts";

const dir = mkdtempSync(join(tmpdir(), "csv-properties-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fileWith = (text: string) => {
  const path = join(dir, `f${files++}.csv`);
  writeFileSync(path, text);
  return path;
};
async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,24}$/);
/** Any text a spreadsheet cell can hold: commas, quotes, newlines, any Unicode (none of it blank at the ends). */
const cellText = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 40 })
  .map((text) => text.trim())
  .filter((text) => text.length > 0 && !text.includes("\u0000"));
/** How a spreadsheet may save it: BOM or not, CRLF or LF, every cell quoted or only where needed. */
const saving = fc.record({ bom: fc.boolean(), crlf: fc.boolean(), quoted: fc.boolean() });
const asSpreadsheet = (rows: string[][], how: { bom: boolean; crlf: boolean; quoted: boolean }) =>
  `${how.bom ? "\uFEFF" : ""}${stringify(rows, {
    quoted: how.quoted,
    record_delimiter: how.crlf ? "windows" : "unix",
  })}`;

describe("reading CSV files (property-based)", () => {
  it("reads back every row of any jobs file a spreadsheet saves, exactly", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ locationId: id, csvId: id, reason: cellText }), {
          minLength: 1,
          maxLength: 20,
        }),
        saving,
        async (jobs, how) => {
          const rows = [
            ["reason", "LocationId", "csvId"],
            ...jobs.map((j) => [j.reason, j.locationId, j.csvId]),
          ];
          const records = await collect(readJobRecords(fileWith(asSpreadsheet(rows, how))));
          expect(records.map((r) => ("value" in r ? r.value : r))).toEqual(jobs);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("ends any text at all in rows or one clear JobFileError, never another failure", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: "binary", maxLength: 200 }).filter((t) => !t.includes("\u0000")),
        async (text) => {
          const path = fileWith(`locationId,csvId\n${text}`);
          try {
            for await (const record of readJobRecords(path)) {
              expect(record.line).toBeGreaterThan(0);
            }
          } catch (error) {
            expect(error).toBeInstanceOf(JobFileError);
            const message = (error as Error).message;
            expect(message.split("\n")).toHaveLength(1);
            expect(message).toContain(path);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("reads every location of a spreadsheet's locations file, once each, in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ name: cellText, locationId: id, plan: cellText }), {
          minLength: 1,
          maxLength: 20,
        }),
        saving,
        async (rows, how) => {
          const text = asSpreadsheet(
            [["name", "locationId", "plan"], ...rows.map((r) => [r.name, r.locationId, r.plan])],
            how,
          );
          const ids = await locationsFrom([text], "sheet.csv");
          expect(ids).toEqual([...new Set(rows.map((r) => r.locationId))]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("ends any locations file in ids or one clear InputFileError", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "binary", maxLength: 200 }), async (text) => {
        try {
          const ids = await locationsFrom([text], "locations.txt");
          expect(ids.length).toBeGreaterThan(0);
        } catch (error) {
          expect(error).toBeInstanceOf(InputFileError);
          expect((error as Error).message.split("\n")).toHaveLength(1);
        }
      }),
      { numRuns: 150 },
    );
  });
});

/** The C0, DEL and C1 characters in `text`. */
const controlCharacters = (text: string) =>
  [...text].filter(
    (c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f),
  );

describe("writing CSV (property-based)", () => {
  it("writes rows that parse back to the same cells, none a formula, none a control character", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: "binary", maxLength: 30 }), fc.nat()), {
          minLength: 1,
          maxLength: 8,
        }),
        (cells) => {
          const written = csvRow(cells);
          // The row's own line end is its only control character.
          expect(controlCharacters(written.slice(0, -1))).toEqual([]);
          const [parsed] = parse(written) as string[][];
          const expected = cells.map((cell) => {
            const text = typeof cell === "string" ? printable(cell) : String(cell);
            return typeof cell === "string" && /^[=+\-@]/.test(text) ? `'${text}` : text;
          });
          expect(parsed).toEqual(expected);
          for (const cell of parsed ?? []) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
        },
      ),
      { numRuns: 300 },
    );
  });
});
