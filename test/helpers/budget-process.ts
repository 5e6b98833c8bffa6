/**
 * One "container" of the fleet in its own process: its own FleetBudget (its own memory), the
 * shared coordination table over HTTP. Says "ready" on stdout once booted and waits for a line
 * on stdin (the parent sends it when every process is ready, so they start together however
 * busy the machine is), takes `permits` permits for `key` (`batch` at a time, announced with
 * `expect`, as a worker's lanes ask), and prints each grant's time and slot as one JSON line.
 * argv: endpoint, table, key, permits, batch (default 1).
 */
import { once } from "node:events";
import { FleetBudget } from "../../functions/core/highlevel/fleet-budget.ts";
import { RatePacer } from "../../functions/core/highlevel/rate-pacer.ts";
import { createLocalDynamoDbClient } from "../../local/embedded-dynamodb.ts";

const [endpoint = "", tableName = "", key = "", permits = "0", batch = "1"] = process.argv.slice(2);
const client = createLocalDynamoDbClient(endpoint);
const budget = new FleetBudget({
  client: async () => client,
  tableName,
  fallback: new RatePacer(),
  onFallback: (error) => process.stderr.write(`fell back: ${String(error)}\n`),
});
process.stdout.write("ready\n");
await once(process.stdin, "data");
process.stdin.destroy();
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
