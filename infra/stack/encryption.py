"""The tenant's customer-managed KMS key: one per stack, rotated yearly, for everything the stack keeps at rest
that is not a table: the queues, the log groups, the Timerack secret, the Lambda environments, the export
bucket and the alarm topic.

The key policy keeps CDK's default (the account, through IAM: each function's role names the key and the
actions it needs) and adds the AWS services that use the key on the stack's behalf, each limited to this
account's resources: CloudWatch Logs (the log groups, by encryption context), CloudWatch (alarms publishing
to the encrypted topic) and EventBridge (the schedule's dead-letter queue, by rule ARN).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from infra.stack.config import TenantConfig

# What a role needs to use the key for the data it handles: to read an encrypted message, secret or object,
# Decrypt; to write one (an SQS message, an S3 object), GenerateDataKey (and Decrypt, which SQS also asks of
# a producer). No wildcard: cdk-nag and tests/infra hold every action named.
DECRYPT = ("kms:Decrypt",)
ENCRYPT = ("kms:Decrypt", "kms:GenerateDataKey")


class TenantKey(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, tenant: TenantConfig) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self._event_rules: list[str] = []
        self._event_statement: iam.PolicyStatement | None = None
        self.key = kms.Key(
            self,
            "Key",
            description=f"Timerack Bridge {tenant.name}: queues, logs, the Timerack secret, Lambda environments, "
            "the export bucket and the alarm topic",
            enable_key_rotation=True,
            alias=f"alias/{tenant.resource_prefix}",
            # Retained log groups, secret and bucket stay readable after a `cdk destroy`.
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch Logs encrypts the stack's log groups (any log group of this account and region: their
        # names are generated, and the log group ARN is the encryption context).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    }
                },
            )
        )
        # CloudWatch alarms publish to the SNS topic encrypted with this key (the AWS-managed SNS key admits no
        # other service).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )

    def allow_event_rule(self, rule_arn: str) -> None:
        """Let EventBridge put a rule's undelivered events into a queue encrypted with this key (the rule's DLQ).
        `rule_arn` is built from the rule's name, not referenced: the rule references the queue, which references
        the key, so a reference back would be a cycle. The rules share one statement (one Sid)."""
        self._event_rules.append(rule_arn)
        if self._event_statement is None:
            self._event_statement = iam.PolicyStatement(
                sid="EventBridgeDeadLetters",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
            )
            self.key.add_to_resource_policy(self._event_statement)
        self._event_statement.add_condition("ArnEquals", {"aws:SourceArn": list(self._event_rules)})

    def allow_decrypt_through_s3(self, principal: iam.IPrincipal) -> None:
        """Let a principal outside the account (Timerack) decrypt the export bucket's objects, through S3 only."""
        stack = Stack.of(self)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TimerackReadsTheExportBucket",
                principals=[principal],
                actions=["kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )

    @property
    def key_arn(self) -> str:
        return self.key.key_arn
