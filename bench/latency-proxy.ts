/**
 * A forwarding HTTP proxy that holds each request for a while first: the embedded stores answer
 * in well under a millisecond, AWS's in tens of them, and a benchmark of what a write costs the
 * worker must wait as long as Lambda does.
 */
import { once } from "node:events";
import { Agent, createServer, type IncomingMessage, request } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * AWS's answer times for the worker's own calls, taken at their slow end: a small S3 PUT or GET
 * ("median latency often in the tens of milliseconds", S3's performance guidelines) and a
 * DynamoDB read or write ("single-digit milliseconds"). The embedded stores answer in well
 * under 1 ms.
 */
export const AWS_STORE_LATENCY_MS = { s3: 50, dynamoDb: 10 } as const;

export interface LatencyProxy {
  endpoint: string;
  stop(): Promise<void>;
}

/** Forwards everything to `target` (http://127.0.0.1:port) after `delayMs(request)` ms. */
export async function startLatencyProxy(
  target: string,
  delayMs: (request: IncomingMessage) => number,
): Promise<LatencyProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true });
  const server = createServer((incoming, answer) => {
    setTimeout(() => {
      const forwarded = request(
        {
          agent,
          host: upstream.hostname,
          port: upstream.port,
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (reply) => {
          answer.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(answer);
        },
      );
      forwarded.on("error", () => answer.destroy());
      incoming.pipe(forwarded);
    }, delayMs(incoming));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: async () => {
      server.closeAllConnections();
      server.close();
      agent.destroy();
    },
  };
}
