import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../helpers/run-cli.ts";

/** The props table of docs/deploy.md is the construct's documentation: every prop, no other. */
describe("docs/deploy.md props table", () => {
  it("lists exactly the keys of CsvDeletionPipelineProps", () => {
    const source = readFileSync(join(ROOT, "infra/pipeline-props.ts"), "utf8");
    const body = source.slice(
      source.indexOf("export interface CsvDeletionPipelineProps {"),
      source.indexOf("\n}\n", source.indexOf("export interface CsvDeletionPipelineProps {")),
    );
    const props = [...body.matchAll(/^ {2}([a-zA-Z]+)\?:/gm)].map((m) => m[1]).sort();
    const page = readFileSync(join(ROOT, "docs/deploy.md"), "utf8");
    const table = page.slice(page.search(/^\| prop\s+\| default\s+\|/m));
    const documented = [
      ...table.slice(0, table.indexOf("\n\n")).matchAll(/^\| `([a-zA-Z]+)`\s*\|/gm),
    ]
      .map((m) => m[1])
      .sort();
    expect(props.length).toBeGreaterThan(10);
    expect(documented).toEqual(props);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  let fence = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const heading = fence ? null : /^#{1,6} (.+)$/.exec(line);
    if (heading?.[1]) anchors.add(slug(heading[1]));
  }
  return anchors;
}

describe("links in the README and docs/", () => {
  const pages = [
    "README.md",
    ...readdirSync(join(ROOT, "docs")).flatMap((f) => (f.endsWith(".md") ? [`docs/${f}`] : [])),
  ];

  it.each(pages)("every relative link of %s points at a file (and heading) that exists", (page) => {
    const text = readFileSync(join(ROOT, page), "utf8").replace(/```[\s\S]*?```/g, "");
    const broken: string[] = [];
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (!target || /^(https?:|mailto:)/.test(target)) continue;
      const [path = "", anchor] = target.split("#");
      const file = path ? join(ROOT, dirname(page), path) : join(ROOT, page);
      if (!existsSync(file)) {
        broken.push(target);
        continue;
      }
      if (anchor && file.endsWith(".md") && !anchorsOf(readFileSync(file, "utf8")).has(anchor)) {
        broken.push(target);
      }
    }
    expect(broken).toEqual([]);
  });

  it("keeps the README short: at most 250 lines, the two commands in it", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    expect(readme.split("\n").length).toBeLessThanOrEqual(250);
    expect(readme).toContain("npm ci && npm start");
    expect(readme).toContain("npm test");
  });
});
