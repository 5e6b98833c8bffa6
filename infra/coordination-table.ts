import { RemovalPolicy, Validations } from "aws-cdk-lib";
import { AttributeType, Billing, TableV2 } from "aws-cdk-lib/aws-dynamodb";
import type { IGrantable } from "aws-cdk-lib/aws-iam";
import { Construct } from "constructs";

/**
 * The coordination table of DESIGN.md: what the fleet must agree on (rate budgets per location
 * and token, refresh leases). On-demand, partition key `pk`, items expire by `ttl`. Its items
 * are short-lived state that rebuilds itself, so it has no backups and goes with the stack.
 */
export class CoordinationTable extends Construct {
  readonly table: TableV2;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.table = new TableV2(this, "Table", {
      partitionKey: { name: "pk", type: AttributeType.STRING },
      billing: Billing.onDemand(),
      timeToLiveAttribute: "ttl",
      removalPolicy: RemovalPolicy.DESTROY,
    });
    Validations.of(this.table).acknowledge({
      id: "AwsSolutions-DDB3",
      reason:
        "Rate budgets and leases live seconds to hours and rebuild themselves from HighLevel's headers: point-in-time recovery would restore nothing worth having.",
    });
  }

  /** The refresh lease: a conditional put to take it, a conditional delete to release it. */
  grantLease(grantee: IGrantable): void {
    this.table.grant(grantee, "dynamodb:PutItem", "dynamodb:DeleteItem");
  }

  /** Rate permits: read a budget, take from it conditionally. Nothing else. */
  grantBudgets(grantee: IGrantable): void {
    this.table.grant(grantee, "dynamodb:GetItem", "dynamodb:UpdateItem");
  }
}
