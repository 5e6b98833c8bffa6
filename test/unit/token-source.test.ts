import { afterEach, describe, expect, it } from "vitest";
import {
  MissingTokenError,
  secretTokenSource,
  tokenFingerprint,
  tokenFromSecret,
} from "../../functions/core/highlevel/token-source.ts";
import { startFakeSecretsManager } from "../helpers/fake-secrets-manager.ts";

const ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ghl-token-AbCdEf";

describe("tokenFromSecret", () => {
  it("reads a bare token", () => {
    expect(tokenFromSecret("  pit-abc \n", "loc1")).toBe("pit-abc");
  });

  it("reads a per-location map, falling back to default", () => {
    const secret = JSON.stringify({ default: "pit-default", loc9: "pit-9" });
    expect(tokenFromSecret(secret, "loc9")).toBe("pit-9");
    expect(tokenFromSecret(secret, "loc1")).toBe("pit-default");
  });

  it.each([
    ["", /empty/],
    ["{not json", /not valid JSON/],
    [JSON.stringify({ loc2: "x" }), /no entry for location loc1 and no "default"/],
  ])("explains a secret it cannot use (%j)", (secret, message) => {
    expect(() => tokenFromSecret(secret, "loc1")).toThrow(MissingTokenError);
    expect(() => tokenFromSecret(secret, "loc1")).toThrow(message);
  });
});

describe("tokenFingerprint", () => {
  it("is short, stable and does not contain the token", () => {
    const fingerprint = tokenFingerprint("pit-secret-value");
    expect(fingerprint).toMatch(/^[0-9a-f]{12}$/);
    expect(fingerprint).toBe(tokenFingerprint("pit-secret-value"));
    expect(fingerprint).not.toContain("pit");
  });
});

describe("secretTokenSource (Secrets Manager through Powertools)", () => {
  let fake: Awaited<ReturnType<typeof startFakeSecretsManager>> | undefined;
  afterEach(async () => {
    await fake?.stop();
  });

  it("reads the secret once per container and again only after refresh", async () => {
    fake = await startFakeSecretsManager({ [ARN]: "pit-old" });
    const tokens = secretTokenSource(fake.provider, ARN);
    expect(await tokens.tokenFor("loc1")).toBe("pit-old");
    expect(await tokens.tokenFor("loc2")).toBe("pit-old");
    expect(fake.reads).toHaveLength(1);

    fake.set(ARN, JSON.stringify({ default: "pit-new", loc2: "pit-loc2" }));
    expect(await tokens.tokenFor("loc1")).toBe("pit-old");
    await tokens.refresh();
    expect(await tokens.tokenFor("loc1")).toBe("pit-new");
    expect(await tokens.tokenFor("loc2")).toBe("pit-loc2");
    expect(fake.reads).toHaveLength(2);
  });

  it("shares one read between concurrent callers", async () => {
    fake = await startFakeSecretsManager({ [ARN]: "pit-1" });
    const tokens = secretTokenSource(fake.provider, ARN);
    await tokens.refresh();
    await Promise.all(Array.from({ length: 10 }, () => tokens.tokenFor("loc1")));
    expect(fake.reads).toHaveLength(1);
  });
});
