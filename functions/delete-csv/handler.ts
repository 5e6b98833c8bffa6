import { createDeleteCsvHandler } from "./create-handler.ts";

/** The SQS consumer: deletes the CSV uploads its jobs name. See DESIGN.md for the outcome table. */
export const handler = createDeleteCsvHandler(process.env);
