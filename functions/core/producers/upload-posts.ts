import { bodyConfirmsSuccess, readCsvUpload } from "../highlevel/csv-answer.ts";
import type { HighLevelClient } from "../highlevel/highlevel-client.ts";
import type { PostCounts } from "./purge-plan.ts";

/** Reads every page of an upload's posts and counts those still to be published. */
export async function countUploadPosts(
  client: Pick<HighLevelClient, "getCsv">,
  locationId: string,
  csvId: string,
  context: { token: string; deadline: number },
  options: { futureAfter: number; pageSize?: number },
): Promise<{ ok: true; counts: PostCounts } | { ok: false; why: string }> {
  const { futureAfter } = options;
  const limit = options.pageSize ?? 100;
  const counts: PostCounts = { total: 0, future: 0, past: 0, nextScheduled: undefined };
  for (let skip = 0; ; skip += limit) {
    const answer = await client.getCsv(locationId, csvId, context, { skip, limit });
    const read = usableBody(answer);
    if (!read) return { ok: false, why: describeFailure(answer, "the read") };
    const page = readCsvUpload(read.body);
    for (const post of page.posts) {
      counts.total += 1;
      const at = post.scheduleDate ? Date.parse(post.scheduleDate) : Number.NaN;
      // A date that cannot be read might be tomorrow: it counts as future, never as past.
      if (Number.isFinite(at) && at <= futureAfter) {
        counts.past += 1;
        continue;
      }
      counts.future += 1;
      if (Number.isFinite(at) && (!counts.nextScheduled || at < Date.parse(counts.nextScheduled))) {
        counts.nextScheduled = new Date(at).toISOString();
      }
    }
    const reachedEnd =
      page.posts.length < limit || (page.count !== undefined && skip + limit >= page.count);
    if (reachedEnd) break;
  }
  return { ok: true, counts };
}

type Answer = Awaited<ReturnType<HighLevelClient["listCsvs"]>>;

/** The body of a 2xx that arrived whole and does not say it failed; undefined otherwise. */
export function usableBody(answer: Answer): { body: unknown } | undefined {
  const usable =
    answer.kind === "answered" &&
    answer.status >= 200 &&
    answer.status < 300 &&
    answer.bodyState === "complete" &&
    bodyConfirmsSuccess(answer.body);
  return usable ? { body: answer.body } : undefined;
}

export function describeFailure(answer: Answer, what: string): string {
  if (answer.kind === "answered") {
    return `HighLevel answered ${answer.status}${answer.message ? `: ${answer.message}` : " without a usable answer"}`;
  }
  if (answer.kind === "paced-out") return `the rate budget ran out before ${what} finished`;
  return answer.detail;
}
