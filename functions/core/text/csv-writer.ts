import { stringify } from "csv-stringify/sync";
import { printable } from "./printable.ts";

/**
 * One CSV row (RFC 4180, `\n`-terminated) of outside text, written with csv-stringify as a
 * person will open it: control characters escaped (`printable`) and cells that a spreadsheet
 * would run as a formula (starting with `=`, `+`, `-`, `@`, tab or CR) prefixed with `'`, as
 * OWASP's "CSV Injection" advises. JSON Lines output keeps values exact instead.
 *
 * @example
 * csvRow(["loc1", '=HYPERLINK("http://x","y")', 3]) // 'loc1,"\'=HYPERLINK(""http://x"",""y"")",3\n'
 */
export function csvRow(cells: ReadonlyArray<string | number | undefined>): string {
  return stringify([cells.map((cell) => (typeof cell === "string" ? printable(cell) : cell))], {
    escape_formulas: true,
    record_delimiter: "unix",
  });
}
