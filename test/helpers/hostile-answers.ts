import type { ServerResponse } from "node:http";
import { json } from "./hostile-server.ts";

/** How the worker must end a job faced with a hostile answer. */
export type ExpectedEnd =
  | { outcome: "dead-lettered"; reason: "rejected"; status: number; detail: RegExp }
  | { outcome: "already-absent" };

/**
 * Answers to a DELETE that look like success or like HighLevel but are not, each with the end
 * the worker must give the job. `other` is the host of a second server that would answer 200
 * to anything: reaching it would be a false deletion. The GET check answers `check`.
 */
export function hostileAnswers(other: { url: string; host: string }): ReadonlyArray<{
  name: string;
  answer: (response: ServerResponse) => void;
  check?: (response: ServerResponse) => void;
  expected: ExpectedEnd;
}> {
  const redirect = (status: number) => (response: ServerResponse) => {
    response.writeHead(status, { location: `${other.url}/social-media-posting/x/csv/y` });
    response.end();
  };
  const uploadStillThere = (response: ServerResponse) =>
    json(response, 200, { results: { csv: { _id: "c1", status: "completed" } } });
  const uploadGone = (response: ServerResponse) =>
    json(response, 404, { statusCode: 404, message: "CSV not found" });
  const rejectedBy = (detail: RegExp, status = 200): ExpectedEnd => ({
    outcome: "dead-lettered",
    reason: "rejected",
    status,
    detail,
  });
  return [
    ...[301, 302, 303, 307, 308].map((status) => ({
      name: `${status} to another origin`,
      answer: redirect(status),
      expected: rejectedBy(new RegExp(`${status}.*${other.host.replace(".", "\\.")}`), status),
    })),
    {
      name: "200 saying success: false, statusCode 400",
      answer: (response) =>
        json(response, 200, { success: false, statusCode: 400, message: "CSV is being imported" }),
      check: uploadStillThere,
      expected: rejectedBy(/did not confirm.*CSV is being imported/),
    },
    {
      name: "200 HTML login page",
      answer: (response) => {
        response.writeHead(200, { "content-type": "text/html" });
        response.end("<html><body><form>Sign in to continue</form></body></html>");
      },
      check: uploadStillThere,
      expected: rejectedBy(/did not confirm.*not JSON: <html>/),
    },
    {
      name: "200 with invalid JSON",
      answer: (response) => {
        response.writeHead(200, { "content-type": "application/json" });
        response.end('{"success": tru');
      },
      check: uploadStillThere,
      expected: rejectedBy(/did not confirm/),
    },
    {
      name: "200 with a statusCode of 500 in the body",
      answer: (response) => json(response, 200, { statusCode: 500, message: "upstream failed" }),
      check: uploadStillThere,
      expected: rejectedBy(/upstream failed/),
    },
    {
      name: "200 login page while the GET check finds the upload gone",
      answer: (response) => {
        response.writeHead(200, { "content-type": "text/html" });
        response.end("<html>Sign in</html>");
      },
      check: uploadGone,
      expected: { outcome: "already-absent" },
    },
    {
      name: "202 with a body saying success: false while the upload is soft-deleted",
      answer: (response) => json(response, 202, { success: false }),
      check: (response) =>
        json(response, 200, { results: { csv: { _id: "c1", status: "deleted" } } }),
      expected: { outcome: "already-absent" },
    },
  ];
}
