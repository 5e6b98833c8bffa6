import type { S3Client } from "@aws-sdk/client-s3";
import { beforeDeadline } from "../deadline.ts";

/**
 * The report bucket: result objects under `runs/` (S3 on AWS, fauxqs's S3 in local runs).
 * The worker only puts; the CLI lists and reads.
 */
export class ReportBucket {
  readonly #client: () => Promise<S3Client>;
  readonly bucketName: string;

  constructor(client: () => Promise<S3Client>, bucketName: string) {
    this.#client = client;
    this.bucketName = bucketName;
  }

  async put(key: string, body: string, deadline: number): Promise<void> {
    const { PutObjectCommand } = await import("@aws-sdk/client-s3");
    const client = await this.#client();
    await beforeDeadline(deadline, "writing job results", (abortSignal) =>
      client.send(
        new PutObjectCommand({
          Bucket: this.bucketName,
          Key: key,
          Body: body,
          ContentType: "application/x-ndjson",
        }),
        { abortSignal },
      ),
    );
  }

  /** Every key under `prefix`, in key order, a page at a time. */
  async *keys(prefix: string): AsyncGenerator<string> {
    const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
    const client = await this.#client();
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({
          Bucket: this.bucketName,
          Prefix: prefix,
          ...(token && { ContinuationToken: token }),
        }),
      );
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  /** One object's text (result objects are small: a batch's lines). */
  async text(key: string): Promise<string> {
    const { GetObjectCommand } = await import("@aws-sdk/client-s3");
    const client = await this.#client();
    const { Body } = await client.send(new GetObjectCommand({ Bucket: this.bucketName, Key: key }));
    return Body ? Body.transformToString() : "";
  }
}

/** An S3 client for the report bucket; a local endpoint (fauxqs) needs path-style URLs. */
export async function createS3Client(endpoint?: string, extra: Record<string, unknown> = {}) {
  const { S3Client } = await import("@aws-sdk/client-s3");
  return new S3Client({
    ...(endpoint && { endpoint, forcePathStyle: true }),
    // TLS and S3's own MD5-free integrity suffice for small JSON Lines objects; a CRC per put
    // would cost CPU in every batch.
    requestChecksumCalculation: "WHEN_REQUIRED",
    ...extra,
  });
}
