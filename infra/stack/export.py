"""The hourly export: the export function, its schedule, its destination (Timerack over HTTPS or an
S3 file drop) and the dead-letter queue for runs that never happened or failed."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.functions import BridgeFunction, FunctionSpec, Layers
from infra.stack.nag import acknowledge
from infra.stack.queues import dead_letter_queue

EXPORT_SPEC = FunctionSpec(
    folder=constants.EXPORT_FUNCTION,
    handler=constants.EXPORT_HANDLER,
    memory_mb=constants.EXPORT_MEMORY_MB,
    timeout=constants.EXPORT_TIMEOUT,
    description="Hourly export of each client's assignments and employees to Timerack",
)


class ExportJob(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, tenant: TenantConfig, database: Database, layers: Layers
    ) -> None:
        super().__init__(scope, construct_id)
        self._tenant = tenant
        self.api_token = secretsmanager.Secret(
            self,
            "TimerackApiToken",
            description=f"Timerack API token for tenant {tenant.name}; put the real value after deploy",
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            self.api_token,
            "AwsSolutions-SMG4",
            "Timerack issues this API token; it cannot be rotated from AWS. Admins replace it "
            "(put-secret-value) when Timerack issues a new one.",
        )
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", receives="the export schedule and the export function's async runs"
        )
        self.bucket = self._export_bucket() if tenant.export_destination == "s3" else None

        self.function = BridgeFunction(
            self,
            "Handler",
            tenant=tenant,
            spec=EXPORT_SPEC,
            layers=layers,
            environment={constants.ENV_TABLE_NAME: database.main_table.table_name, **self.environment},
            on_failure=self.dead_letter_queue,
            retry_attempts=constants.EXPORT_ASYNC_RETRIES,
            max_event_age=constants.EXPORT_MAX_EVENT_AGE,
        )
        self.function.allow(constants.EXPORT_TABLE_ACTIONS, database.main_table_resources)
        self.grant_run(self.function)

        self.schedule = events.Rule(
            self,
            "Schedule",
            description=f"Runs the Timerack export for tenant {tenant.name}",
            schedule=events.Schedule.expression(tenant.schedule),
            targets=[
                targets.LambdaFunction(
                    self.function.function,
                    dead_letter_queue=self.dead_letter_queue,
                    retry_attempts=constants.SCHEDULE_RETRY_ATTEMPTS,
                    max_event_age=constants.SCHEDULE_MAX_EVENT_AGE,
                )
            ],
        )

    @property
    def environment(self) -> dict[str, str]:
        """What a function running the export reads, besides TABLE_NAME."""
        environment = {
            constants.ENV_EXPORT_DESTINATION: self._tenant.export_destination,
            constants.ENV_TIMERACK_API_URL: self._tenant.timerack_api_url,
            constants.ENV_TIMERACK_API_TOKEN_SECRET_ARN: self.api_token.secret_arn,
        }
        if self.bucket is not None:
            environment[constants.ENV_EXPORT_BUCKET] = self.bucket.bucket_name
        return environment

    def grant_run(self, function: BridgeFunction) -> None:
        """Let `function` deliver an export: read the Timerack token, drop files into the bucket."""
        function.allow(["secretsmanager:GetSecretValue"], [self.api_token.secret_arn])
        if self.bucket is not None:
            function.allow(["s3:PutObject"], [self.bucket.arn_for_objects("*")])
            acknowledge(
                function.role,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/*]",
                "The export writes one object per client key into this one bucket; object ARNs need the key wildcard.",
            )

    def _export_bucket(self) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(365))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket of the export bucket; logging it into itself would loop.",
        )
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="export-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            removal_policy=RemovalPolicy.RETAIN,
        )


def _logical_id(construct: Construct) -> str:
    """The CloudFormation logical id cdk-nag prints in a finding about this construct's ARN."""
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]
