import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/run-cli.ts";

/** The README's props table is the construct's documentation: it must name every prop, and no other. */
describe("README props table", () => {
  it("lists exactly the keys of CsvDeletionPipelineProps", () => {
    const source = readFileSync(join(ROOT, "infra/pipeline-props.ts"), "utf8");
    const body = source.slice(
      source.indexOf("export interface CsvDeletionPipelineProps {"),
      source.indexOf("\n}\n", source.indexOf("export interface CsvDeletionPipelineProps {")),
    );
    const props = [...body.matchAll(/^ {2}([a-zA-Z]+)\?:/gm)].map((m) => m[1]).sort();
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const table = readme.slice(readme.search(/^\| prop\s+\| default\s+\|/m));
    const documented = [
      ...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `([a-zA-Z]+)`\s*\|/gm),
    ]
      .map((m) => m[1])
      .sort();
    expect(props.length).toBeGreaterThan(10);
    expect(documented).toEqual(props);
  });
});
