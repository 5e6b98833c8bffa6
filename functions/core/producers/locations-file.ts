import { createReadStream } from "node:fs";
import { InputFileError, readCsvRows } from "../text/csv-reader.ts";
import { printable } from "../text/printable.ts";
import { HIGHLEVEL_ID_PATTERN } from "./deletion-job.ts";

/**
 * Location ids from a file, read as CSV (csv-parse, like every CSV this project reads): a CSV
 * whose header has a `locationId` column (any case; other columns, quoted cells with commas,
 * quotes or newlines, a BOM, CRLF all fine), or one id per line (blank lines and `#` comments
 * skipped). Each id once, in file order. Errors are one `InputFileError` naming the line.
 *
 * @example
 * await readLocationsFile("subaccounts.csv") // ["ve9EPM428h8vShlRW1KT", …]
 */
export async function readLocationsFile(path: string, name = path): Promise<string[]> {
  return locationsFrom(createReadStream(path), name);
}

/** `readLocationsFile` over any text stream (tests, standard input). */
export async function locationsFrom(
  input: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  name: string,
): Promise<string[]> {
  const ids: string[] = [];
  const seen = new Set<string>();
  let column: number | undefined;
  let first = true;
  for await (const { line, cells } of readCsvRows(input, { name })) {
    if (first) {
      first = false;
      const headers = cells.flatMap((cell, index) =>
        cell.toLowerCase() === "locationid" ? [index] : [],
      );
      if (headers.length > 1) {
        const [a, b] = headers.map((index) => cells[index]);
        throw new InputFileError(
          `${name}: the header names the location column twice ("${a}" and "${b}"): keep one`,
        );
      }
      if (headers.length === 1) {
        column = headers[0];
        continue;
      }
    }
    const id = column === undefined ? cells.join(",") : (cells[column] ?? "");
    if (!id || (column === undefined && id.startsWith("#"))) continue;
    if (!HIGHLEVEL_ID_PATTERN.test(id)) {
      throw new InputFileError(
        `${name} line ${line}: "${printable(id.slice(0, 80))}" is not a location id (letters, digits, '_' and '-')`,
      );
    }
    if (!seen.has(id)) {
      seen.add(id);
      ids.push(id);
    }
  }
  if (ids.length === 0) throw new InputFileError(`${name} names no location`);
  return ids;
}
