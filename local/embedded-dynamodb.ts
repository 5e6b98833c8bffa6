import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from "@aws-sdk/client-dynamodb";

/** The coordination table's name in local runs. */
export const LOCAL_COORDINATION_TABLE = "ghl-csv-purge-coordination";

/**
 * An in-process DynamoDB (dynalite) on 127.0.0.1 holding the coordination table, the way fauxqs
 * serves SQS: local runs, tests and benchmarks share rate budgets across processes with no setup.
 * dynalite is loaded only here, so nothing deployed carries it.
 */
export async function startEmbeddedDynamoDb(
  options: {
    tableName?: string;
    /** Keep the table on disk here (a local run's data dir; a restart finds it again). */
    path?: string;
    /** Listen on this port (a restart keeps its endpoint); default any free one. */
    port?: number;
  } = {},
) {
  const { default: dynalite } = await import("dynalite");
  const server = dynalite({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(options.path && { path: options.path }),
  });
  const gate = gateRequests(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = createLocalDynamoDbClient(endpoint);
  const tableName = options.tableName ?? LOCAL_COORDINATION_TABLE;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      }),
    );
  } catch (error) {
    // Kept on disk by an earlier run: the table is there already.
    if ((error as { name?: string }).name !== "ResourceInUseException") throw error;
  }
  // dynalite answers "not found" while a new table is CREATING, which outlasts createTableMs: 0
  // when the table is written to disk on a busy machine; nothing may use it before it is ACTIVE.
  await waitUntilTableExists(
    { client, minDelay: 0.01, maxDelay: 0.1, maxWaitTime: 10 },
    { TableName: tableName },
  );
  return {
    endpoint,
    client,
    tableName,
    stop: async () => {
      client.destroy();
      await gate.close();
      const closing = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive connections would keep the old server answering (on a table it is closing).
      server.closeAllConnections();
      await closing;
    },
  };
}

export type EmbeddedDynamoDb = Awaited<ReturnType<typeof startEmbeddedDynamoDb>>;

/** A DynamoDB client for a local endpoint (dynalite), with dummy credentials. */
export function createLocalDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    maxAttempts: 2,
  });
}

/** How long stopping waits for requests under way before closing the table anyway. */
const DRAIN_LIMIT_MS = 5_000;

/**
 * dynalite throws, in this process, from a request whose next read or write finds its database
 * closed. So stopping first turns new requests away (503, which a client treats as the table
 * being down) and lets those under way answer; only then may the table close.
 */
function gateRequests(server: Server) {
  const dynaliteHandlers = server.listeners("request") as Array<
    (request: IncomingMessage, response: ServerResponse) => void
  >;
  server.removeAllListeners("request");
  let closing = false;
  let underWay = 0;
  let drained: (() => void) | undefined;
  server.on("request", (request: IncomingMessage, response: ServerResponse) => {
    if (closing) {
      response.writeHead(503, {
        "content-type": "application/x-amz-json-1.0",
        connection: "close",
      });
      response.end(
        JSON.stringify({
          __type: "com.amazonaws.dynamodb.v20120810#InternalServerError",
          message: "the embedded coordination table is stopping",
        }),
      );
      return;
    }
    underWay += 1;
    // "finish" and "close" can both come before dynalite is done (a client that hung up);
    // its answer, end(), is the moment it no longer touches the database.
    const end = response.end.bind(response);
    response.end = ((...args: Parameters<typeof end>) => {
      underWay -= 1;
      if (underWay === 0) drained?.();
      return end(...args);
    }) as typeof response.end;
    for (const handle of dynaliteHandlers) handle(request, response);
  });
  return {
    close: async () => {
      closing = true;
      if (underWay === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        drained = resolve;
        timer = setTimeout(resolve, DRAIN_LIMIT_MS);
      });
      clearTimeout(timer);
    },
  };
}
