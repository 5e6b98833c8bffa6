import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

interface PersistenceManagerPrototype {
  updateMessageReady(
    this: { db: { prepare(sql: string): { run(...args: unknown[]): unknown } } },
    messageId: string,
  ): void;
  __ghlReadyFixed?: boolean;
}

/**
 * fauxqs 2.4.1 writes NULL into `sqs_messages.approximate_receive_count` (a NOT NULL column) when
 * a message's visibility is set back to 0 with a `dataDir`, so a persisted local run dies on its
 * first released message (`ERR_SQLITE_ERROR: NOT NULL constraint failed`). This replaces that
 * one statement with one that clears only the receipt and the deadline, keeping the count.
 * Remove it when fauxqs fixes `updateMessageReady` (see docs/design.md, "Design notes").
 */
export async function fixFauxqsReadyPersistence(): Promise<void> {
  const app = fileURLToPath(import.meta.resolve("fauxqs"));
  const module = (await import(pathToFileURL(join(dirname(app), "persistence.js")).href)) as {
    PersistenceManager?: { prototype: PersistenceManagerPrototype };
  };
  const prototype = module.PersistenceManager?.prototype;
  if (!prototype || prototype.__ghlReadyFixed) return;
  prototype.updateMessageReady = function updateMessageReady(messageId) {
    this.db
      .prepare(
        "UPDATE sqs_messages SET receipt_handle = NULL, visibility_deadline = NULL WHERE message_id = ?",
      )
      .run(messageId);
  };
  prototype.__ghlReadyFixed = true;
}
