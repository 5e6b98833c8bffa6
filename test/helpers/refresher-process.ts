/**
 * One token refresher in its own process (as one Lambda container): builds the real handler
 * from the environment given as argv[2], prints "ready", runs once on "go", prints its report.
 */
import { createInterface } from "node:readline";
import { createRefreshTokenHandler } from "../../functions/refresh-token/create-handler.ts";
import { lambdaContext } from "./lambda-context.ts";

const env = JSON.parse(process.argv[2] ?? "{}") as Record<string, string>;
const handler = createRefreshTokenHandler(env);
process.stdout.write("ready\n");
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== "go") continue;
  const report = await handler({}, lambdaContext());
  process.stdout.write(`${JSON.stringify(report)}\n`);
  break;
}
process.exit(0);
