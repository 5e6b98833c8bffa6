/**
 * SQS failures that no retry can mend: a queue that does not exist, refused or missing
 * credentials, no region, an endpoint nobody answers on. A producer stops on the first one
 * instead of retrying every batch of a large file.
 */
export function isNonRetryableSqsError(error: unknown): boolean {
  return describeNonRetryable(error) !== undefined;
}

/** What to fix for a non-retryable SQS failure, in one sentence; undefined for the others. */
export function describeNonRetryable(
  error: unknown,
  context: { queueUrl?: string; endpoint?: string } = {},
): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const name = error.name;
  const code =
    (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  const queue = context.queueUrl ?? "the queue";
  if (name === "QueueDoesNotExist" || name === "AWS.SimpleQueueService.NonExistentQueue") {
    return `${queue} does not exist: check --queue-url (or --stack) and --region (queues belong to one region and account)`;
  }
  if (name === "AccessDenied" || name === "AccessDeniedException") {
    return `access to ${queue} was denied: the AWS credentials in use (--profile, AWS_PROFILE) lack permission for it`;
  }
  if (
    [
      "InvalidClientTokenId",
      "UnrecognizedClientException",
      "SignatureDoesNotMatch",
      "ExpiredToken",
      "ExpiredTokenException",
      "InvalidSecurity",
    ].includes(name)
  ) {
    return `AWS refused the credentials (${name}): check --profile / AWS_PROFILE or AWS_ACCESS_KEY_ID, and refresh an expired session`;
  }
  if (name === "CredentialsProviderError") {
    return "no AWS credentials were found: pass --profile, or set AWS_PROFILE or AWS_ACCESS_KEY_ID";
  }
  if (/region is missing|region not accepted/i.test(error.message)) {
    return "no AWS region: pass --region, or set AWS_REGION";
  }
  if (
    code &&
    ["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ECONNRESET", "EHOSTUNREACH"].includes(code)
  ) {
    return `cannot reach SQS${context.endpoint ? ` at ${context.endpoint}` : ""} (${code}): check --endpoint-url and --region, and the network`;
  }
  return undefined;
}
