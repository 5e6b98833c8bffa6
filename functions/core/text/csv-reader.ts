import { CsvError, parse } from "csv-parse";

/** An input file that cannot be read as what it should be: the user's to fix (exit 2). */
export class InputFileError extends Error {
  override name = "InputFileError";
}

export interface CsvReadOptions {
  /** Names the input in every error: its path, or "standard input". */
  name: string;
  /** The field separator; default ",". */
  delimiter?: string;
}

export interface CsvHeaderOptions extends CsvReadOptions {
  /** Header names matched case-insensitively, as lowercase → the name to use (`locationid` → `locationId`). */
  canonical: Record<string, string>;
  /** Columns the header must name (as `canonical` gives them). */
  required: readonly string[];
}

/**
 * The one way this project reads CSV (csv-parse): a leading BOM dropped, CRLF or LF, quoted
 * fields holding commas, quotes and newlines, blank lines skipped, cells trimmed. Every parse
 * error is one `InputFileError` naming the input, the line and the field.
 */
export async function* readCsvRows(
  input: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  options: CsvReadOptions,
): AsyncGenerator<{ line: number; cells: string[] }> {
  for await (const { record, info } of parsed<string[]>(input, options, false)) {
    yield { line: info.lines, cells: record };
  }
}

/**
 * Rows of a CSV with a header, as records keyed by its column names. A header that names one
 * column twice (`csvId,CSVID`) is refused, naming both: for a tool that deletes, an ambiguous
 * file is not guessed at. A header without the required columns is refused, saying what it
 * holds (and which separator it seems to use, if not the one given).
 */
export async function* readCsvRecords(
  input: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  options: CsvHeaderOptions,
): AsyncGenerator<{ line: number; record: Record<string, string> }> {
  const delimiter = options.delimiter ?? ",";
  const columns = (header: string[]) => {
    const names = header.map((raw) => {
      const name = raw.trim();
      return options.canonical[name.toLowerCase()] ?? name;
    });
    const seen = new Map<string, string>();
    header.forEach((raw, index) => {
      const key = (names[index] as string).toLowerCase();
      const earlier = seen.get(key);
      if (earlier !== undefined) {
        throw new InputFileError(
          `${options.name}: the header names one column twice ("${earlier}" and "${raw.trim()}"): keep one`,
        );
      }
      seen.set(key, raw.trim());
    });
    const missing = options.required.filter((column) => !names.includes(column));
    if (missing.length > 0) {
      const found = header.join(", ");
      const otherSeparator = [";", "\t", "|"].find(
        (separator) => separator !== delimiter && found.includes(separator),
      );
      const shown = otherSeparator === "\t" ? "\\t" : otherSeparator;
      throw new InputFileError(
        otherSeparator
          ? `${options.name}: the CSV header is separated by "${shown}": pass --delimiter "${shown}"`
          : `${options.name}: the CSV header must name the columns ${options.required.join(" and ")} (found: ${found})`,
      );
    }
    return names;
  };
  for await (const { record, info } of parsed<Record<string, string>>(input, options, columns)) {
    yield { line: info.lines, record };
  }
}

async function* parsed<T>(
  input: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  options: CsvReadOptions,
  columns: false | ((header: string[]) => string[]),
): AsyncGenerator<{ record: T; info: { lines: number } }> {
  const parser = parse({
    delimiter: options.delimiter ?? ",",
    columns,
    skip_empty_lines: true,
    trim: true,
    relax_column_count: true,
    info: true,
    bom: true,
  });
  const feeding = (async () => {
    try {
      for await (const chunk of input) {
        if (!parser.write(chunk)) await new Promise((resolve) => parser.once("drain", resolve));
      }
      parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();
  try {
    for await (const row of parser as AsyncIterable<{ record: T; info: { lines: number } }>) {
      yield row;
    }
  } catch (error) {
    throw describeCsvError(error, options.name);
  } finally {
    parser.destroy();
  }
  await feeding;
}

/** A csv-parse error as one line naming the input, line and field; other errors unchanged. */
function describeCsvError(error: unknown, name: string): unknown {
  if (error instanceof InputFileError || !(error instanceof CsvError)) return error;
  const where = error as CsvError & { lines?: number; column?: number | string };
  const line = where.lines !== undefined ? ` line ${where.lines}` : "";
  const field =
    typeof where.column === "number"
      ? `, field ${where.column + 1}`
      : typeof where.column === "string"
        ? `, column "${where.column}"`
        : "";
  // csv-parse ends its messages with "at line N": the line is named up front instead.
  const message = error.message.replace(/\s*at line \d+\.?$/, "");
  return new InputFileError(`${name}${line}${field}: ${message}`);
}
