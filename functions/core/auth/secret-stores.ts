import { readFile } from "node:fs/promises";
import type { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { createOutputFile } from "../files/output-file.ts";
import type { SecretStore } from "./token-refresher.ts";

/** The token secret in Secrets Manager: read with GetSecretValue, written as a new AWSCURRENT version. */
export function secretsManagerStore(client: SecretsManagerClient, secretId: string): SecretStore {
  return {
    read: async () => {
      const { GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
      const { SecretString } = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (typeof SecretString !== "string") throw new Error("the token secret has no string value");
      return SecretString;
    },
    write: async (text) => {
      const { PutSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
      // PutSecretValue moves the AWSCURRENT label to the new version.
      await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: text }));
    },
  };
}

/**
 * A token file for local runs (`--token-file`): replaced atomically (`createOutputFile`),
 * readable by its owner only. A symlink at the path is written through, to the file it names.
 */
export function fileStore(path: string): SecretStore {
  return {
    read: () => readFile(path, "utf8"),
    write: async (text) => {
      const file = await createOutputFile(path, { mode: 0o600, followTargetLink: true });
      try {
        await file.write(text);
        await file.commit();
      } finally {
        await file.discard();
      }
    },
  };
}
