import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface RecordedCall {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
}

/** Answers one request; `n` counts the requests of that method from 1. */
export type Responder = (
  request: IncomingMessage,
  response: ServerResponse,
  n: number,
) => void | Promise<void>;

/**
 * An HTTP server on 127.0.0.1 that answers as scripted: a HighLevel that is not quite HighLevel
 * (redirects, login pages, trickled or huge bodies, absurd headers). Separate responders for
 * DELETE and GET; every call is recorded.
 */
export async function startHostileServer(responders: { delete?: Responder; get?: Responder }) {
  const calls: RecordedCall[] = [];
  const counts = { DELETE: 0, GET: 0 } as Record<string, number>;
  const server: Server = createServer((request, response) => {
    const method = request.method ?? "GET";
    counts[method] = (counts[method] ?? 0) + 1;
    calls.push({ method, path: request.url ?? "", headers: request.headers });
    const responder = method === "DELETE" ? responders.delete : responders.get;
    if (!responder) {
      json(response, 404, { statusCode: 404, message: "Not Found" });
      return;
    }
    void responder(request, response, counts[method] ?? 0);
  });
  const { port, stop } = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    calls,
    count: (method: "DELETE" | "GET") => calls.filter((call) => call.method === method).length,
    stop,
  };
}

export type HostileServer = Awaited<ReturnType<typeof startHostileServer>>;

/** A server that accepts connections and never answers: a silent AWS endpoint. */
export async function startSilentServer() {
  const requests: string[] = [];
  const server = createServer((request) => {
    requests.push(`${request.method} ${request.url}`);
    // Never answers.
  });
  const { port, stop } = await listen(server);
  return { url: `http://127.0.0.1:${port}`, requests, stop };
}

/** Listens on 127.0.0.1; `stop` also drops open connections (trickles, silent peers). */
async function listen(server: Server) {
  const sockets = new Set<Socket>();
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as AddressInfo).port,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(body));
}

/** Sends `text` one byte a second: headers at once, the body never in time. */
export function trickle(
  response: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  let index = 0;
  const timer = setInterval(() => {
    if (response.destroyed || index >= text.length) {
      clearInterval(timer);
      if (!response.destroyed) response.end();
      return;
    }
    response.write(text[index]);
    index += 1;
  }, 1_000);
  response.on("close", () => clearInterval(timer));
}

/**
 * Streams `bytes` of JSON-looking text, honouring back-pressure, and stops as soon as the
 * reader hangs up (as the worker does after 64 KiB). Resolves with the bytes actually written.
 */
export function stream(
  response: ServerResponse,
  status: number,
  bytes: number,
  prefix = '{"message":"',
): Promise<number> {
  response.writeHead(status, { "content-type": "application/json" });
  const chunk = Buffer.alloc(64 * 1024, "x");
  let written = 0;
  return new Promise((resolve) => {
    const finish = () => resolve(written);
    response.on("close", finish);
    const pump = () => {
      if (written === 0) {
        response.write(prefix);
        written += prefix.length;
      }
      while (written < bytes && !response.destroyed) {
        written += chunk.length;
        if (!response.write(chunk)) {
          response.once("drain", pump);
          return;
        }
      }
      if (!response.destroyed) response.end('"}');
    };
    pump();
  });
}
