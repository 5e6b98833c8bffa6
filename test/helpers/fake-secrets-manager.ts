import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SecretsProvider } from "@aws-lambda-powertools/parameters/secrets";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";

/**
 * Secrets Manager's GetSecretValue and PutSecretValue over HTTP on 127.0.0.1 (the JSON 1.1
 * protocol the SDK speaks), so that the token source and the refresher are tested through the
 * real SDK and Powertools.
 */
export async function startFakeSecretsManager(initial: Record<string, string>) {
  const secrets = new Map(Object.entries(initial));
  const reads: string[] = [];
  const writes: string[] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      const target = String(request.headers["x-amz-target"] ?? "");
      const { SecretId, SecretString } = JSON.parse(body || "{}") as {
        SecretId?: string;
        SecretString?: string;
      };
      const value = SecretId ? secrets.get(SecretId) : undefined;
      response.setHeader("Content-Type", "application/x-amz-json-1.1");
      if (target === "secretsmanager.PutSecretValue" && SecretId && value !== undefined) {
        secrets.set(SecretId, SecretString ?? "");
        writes.push(SecretId);
        response.end(
          JSON.stringify({ ARN: SecretId, Name: SecretId, VersionId: `v${writes.length + 1}` }),
        );
        return;
      }
      if (target !== "secretsmanager.GetSecretValue" || !SecretId || value === undefined) {
        response.statusCode = 400;
        response.end(
          JSON.stringify({ __type: "ResourceNotFoundException", message: "Secret not found" }),
        );
        return;
      }
      reads.push(SecretId);
      response.end(
        JSON.stringify({ ARN: SecretId, Name: SecretId, SecretString: value, VersionId: "v1" }),
      );
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new SecretsManagerClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  return {
    endpoint,
    reads,
    writes,
    value: (secretId: string) => secrets.get(secretId),
    provider: new SecretsProvider({ awsSdkV3Client: client }),
    set: (secretId: string, value: string) => secrets.set(secretId, value),
    stop: async () => {
      client.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
