import { createPlanPurgeHandler } from "./create-handler.ts";

/** The scheduled purge planner: its event is a purge policy (see functions/core/purge-policy.ts). */
export const handler = createPlanPurgeHandler(process.env);
