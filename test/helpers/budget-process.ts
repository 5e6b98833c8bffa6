/**
 * One "container" of the fleet in its own process: its own FleetBudget (its own memory), the
 * shared coordination table over HTTP. Waits until `startAt` (so that every process has booted),
 * takes `permits` permits for `key` (`batch` at a time, announced with `expect`, as a worker's
 * lanes ask), and prints each grant's time and slot as one JSON line.
 * argv: endpoint, table, key, permits, startAt (epoch ms), batch (default 1).
 */
import { FleetBudget } from "../../functions/core/highlevel/fleet-budget.ts";
import { RatePacer } from "../../functions/core/highlevel/rate-pacer.ts";
import { createLocalDynamoDbClient } from "../../local/embedded-dynamodb.ts";

const [endpoint = "", tableName = "", key = "", permits = "0", startAt = "0", batch = "1"] =
  process.argv.slice(2);
const client = createLocalDynamoDbClient(endpoint);
const budget = new FleetBudget({
  client: async () => client,
  tableName,
  fallback: new RatePacer(),
  onFallback: (error) => process.stderr.write(`fell back: ${String(error)}\n`),
});
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
const grants: number[] = [];
const slots: number[] = [];
const location = key.slice(0, key.lastIndexOf(":"));
while (grants.length < Number(permits)) {
  // A batch's calls, announced and asked for at once as a worker's lanes do.
  const calls = Math.min(Number(batch), Number(permits) - grants.length);
  if (calls > 1) budget.expect(location, calls);
  const permitsNow = await Promise.all(
    Array.from({ length: calls }, () =>
      budget.acquire(key, Date.now() + 60_000).then((permit) => ({ permit, at: Date.now() })),
    ),
  );
  for (const { permit, at } of permitsNow) {
    if (permit.granted) {
      grants.push(at);
      slots.push(permit.slotAt ?? Number.NaN);
    }
  }
}
process.stdout.write(`${JSON.stringify({ grants, slots, requests: budget.requests })}\n`);
client.destroy();
