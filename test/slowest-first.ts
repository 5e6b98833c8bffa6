import { BaseSequencer, type TestSpecification } from "vitest/node";

/**
 * Seconds each slow file took in a clean-clone `npm test` (`vitest run --reporter=json`, three
 * files at a time, on 6d8c331). A clean clone has no Vitest cache, so Vitest orders files by
 * size and a long one could start last and run alone at the end: this list starts the longest
 * first (the longest-processing-time rule), which ends the suite near its total ÷ 3.
 */
export const MEASURED_SECONDS: Record<string, number> = {
  "test/e2e/cli-local.test.ts": 98,
  "test/e2e/cli-edges.test.ts": 74,
  "test/e2e/run-audit.test.ts": 65,
  "test/functions/fleet-budget.test.ts": 62,
  "test/e2e/cli-ops.test.ts": 59,
  "test/e2e/pipeline.test.ts": 40,
  "test/functions/token-refresh.test.ts": 34,
  "test/e2e/package.test.ts": 31,
  "test/functions/purge-locations.test.ts": 28,
  "test/functions/delete-csv-hostile.test.ts": 27,
  "test/functions/delete-csv.test.ts": 22,
  "test/infra/stack.test.ts": 21,
  "test/e2e/output-files.test.ts": 19,
  "test/e2e/outside-text.test.ts": 17,
  "test/e2e/cli-auth.test.ts": 15,
  "test/functions/dead-letter-scan.test.ts": 13,
  "test/functions/dispatch.test.ts": 9,
  "test/unit/import-cycles.test.ts": 8,
};

/** Known slow files first, longest first; the rest after them in Vitest's own order. */
export class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const seconds = (spec: TestSpecification) =>
      MEASURED_SECONDS[spec.moduleId.slice(spec.project.config.root.length + 1)] ?? 0;
    return sorted
      .map((spec, index) => ({ spec, index, seconds: seconds(spec) }))
      .sort((a, b) => b.seconds - a.seconds || a.index - b.index)
      .map(({ spec }) => spec);
  }
}
