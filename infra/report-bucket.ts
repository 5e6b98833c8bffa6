import { Duration, RemovalPolicy, Stack, Validations } from "aws-cdk-lib";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type CfnBucket,
  ObjectOwnership,
} from "aws-cdk-lib/aws-s3";
import { Construct, type IConstruct } from "constructs";

export interface ReportBucketProps {
  /** How long results are kept: the lifecycle of `runs/`, and the run records' TTL. */
  retention: Duration;
}

/**
 * The report bucket of DESIGN.md "Runs and reports": per-job results under
 * `runs/<runId>/results/`. Encrypted (SSE-S3), TLS only, never public, owner-enforced, and
 * kept when the stack goes (the results are the audit of what was deleted); `runs/` expires
 * after `retention`.
 */
export class ReportBucket extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: ReportBucketProps) {
    super(scope, id);
    this.bucket = new Bucket(this, "Bucket", {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: "ExpireRunResults",
          prefix: "runs/",
          expiration: props.retention,
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
    });
    Validations.of(this.bucket).acknowledge({
      id: "AwsSolutions-S1",
      reason:
        "Only the worker's role writes here, one object per batch; server access logs would double the objects for no reader. CloudTrail data events cover access audits where an account needs them.",
    });
  }

  /** The worker: `s3:PutObject` under `runs/`, nothing else. */
  grantPutResults(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:PutObject"],
        resources: [this.bucket.arnForObjects("runs/*")],
      }),
    );
    // The statement lands in the principal's policy: the acknowledgement goes there too.
    Validations.of(grantee.grantPrincipal as unknown as IConstruct).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket)}.Arn>/runs/*]`,
      reason:
        "Result objects are named by run id and time as they are written: the grant is PutObject alone, on the runs/ prefix of this one bucket.",
    });
  }

  /** Readers of reports (`report`, `runs show`): list and get under `runs/`. */
  grantReadResults(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:ListBucket"],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { "s3:prefix": ["runs/*"] } },
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ["s3:GetObject"],
        resources: [this.bucket.arnForObjects("runs/*")],
      }),
    );
  }
}
