import cliProgress from "cli-progress";
import { printable } from "../functions/core/text/printable.ts";

export interface ProgressView {
  update(done: number, total: number, detail: Record<string, string | number>): void;
  stop(): void;
}

/**
 * Progress on stderr: a bar on a terminal, a plain line every few seconds elsewhere (CI logs,
 * pipes, and --json runs, whose stdout is kept for the JSON document).
 */
export function progressView(
  label: string,
  options: { json: boolean; quiet?: boolean },
): ProgressView {
  if (options.quiet) return { update() {}, stop() {} };
  if (process.stderr.isTTY && !options.json) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} | {detail}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total, detail) {
        const text = formatDetail(detail);
        if (!started) {
          bar.start(total, done, { detail: text });
          started = true;
        } else {
          bar.setTotal(total);
          bar.update(done, { detail: text });
        }
      },
      stop() {
        if (started) bar.stop();
      },
    };
  }
  let lastPrinted = 0;
  return {
    update(done, total, detail) {
      const now = Date.now();
      if (now - lastPrinted < 2_000 && done < total) return;
      lastPrinted = now;
      process.stderr.write(`${label}: ${done}/${total} ${formatDetail(detail)}\n`);
    },
    stop() {},
  };
}

function formatDetail(detail: Record<string, string | number>): string {
  return Object.entries(detail)
    .map(([name, value]) => `${name} ${value}`)
    .join(" | ");
}

/** A plain text table: the first row is the header; text cells are shown `printable`. */
export function table(cellRows: Array<Array<string | number>>): string {
  const rows = cellRows.map((row) =>
    row.map((cell) => (typeof cell === "string" ? printable(cell) : cell)),
  );
  const widths = rows[0]?.map((_, column) =>
    Math.max(...rows.map((row) => String(row[column] ?? "").length)),
  );
  if (!widths) return "";
  const line = (row: Array<string | number>) =>
    row
      .map((cell, column) =>
        typeof cell === "number"
          ? String(cell).padStart(widths[column] ?? 0)
          : cell.padEnd(widths[column] ?? 0),
      )
      .join("  ")
      .trimEnd();
  const [header, ...body] = rows;
  return [line(header ?? []), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join(
    "\n",
  );
}

/** Writes the result: JSON on stdout with --json, else the human text. */
export function emit(json: boolean, document: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(document, null, 2)}\n` : `${text}\n`);
}
