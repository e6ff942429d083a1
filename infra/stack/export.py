"""The export through a queue: the hourly dispatcher (the schedule's target, queuing one message per client),
two queues (the bulk lane for many clients, the priority lane for one), the worker that sends one client
per message to its destination (Timerack over HTTPS or an S3 file drop), and their dead-letter queues."""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, SecretValue, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.encryption import DECRYPT, ENCRYPT, TenantKey
from infra.stack.functions import BridgeFunction, FunctionSpec, Layers
from infra.stack.nag import acknowledge
from infra.stack.queues import WorkQueue, dead_letter_queue, work_queue
from timerack_bridge.adapters.destinations import TOKEN_PLACEHOLDER
from timerack_bridge.adapters.export_queue import MAX_RECEIVES, VISIBILITY_TIMEOUT_SECONDS, WORKER_TIMEOUT_SECONDS

EXPORT_SPEC = FunctionSpec(
    folder=constants.EXPORT_FUNCTION,
    handler=constants.EXPORT_HANDLER,
    memory_mb=constants.EXPORT_MEMORY_MB,
    timeout=constants.EXPORT_TIMEOUT,
    description="Hourly export dispatcher: queues one message per client for the export worker",
)
EXPORT_WORKER_SPEC = FunctionSpec(
    folder=constants.EXPORT_WORKER_FUNCTION,
    handler=constants.EXPORT_WORKER_HANDLER,
    memory_mb=constants.EXPORT_WORKER_MEMORY_MB,
    timeout=Duration.seconds(WORKER_TIMEOUT_SECONDS),
    description="Export worker: sends one client's assignments and employees to Timerack per queue message",
)
QUEUE_VISIBILITY_TIMEOUT = Duration.seconds(VISIBILITY_TIMEOUT_SECONDS)


class ExportJob(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        database: Database,
        layers: Layers,
        key: TenantKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self._tenant = tenant
        self._key = key
        # Only a tenant exporting to Timerack's API has a token to keep.
        self.api_token = self._api_token() if tenant.export_destination == "https" else None
        self.dead_letter_queue = dead_letter_queue(
            self, "DeadLetterQueue", receives="the export schedule and the export dispatcher's async runs", key=key.key
        )
        self.bucket = self._export_bucket() if tenant.export_destination == "s3" else None
        self.bulk = self._lane("Queue", "bulk lane (the hourly run: every client)")
        self.priority = self._lane("PriorityQueue", "priority lane (one client: a manual update or a saved change)")

        # The dispatcher keeps the construct id of the function it replaces ("Handler").
        self.function = BridgeFunction(
            self,
            "Handler",
            tenant=tenant,
            spec=EXPORT_SPEC,
            layers=layers,
            key=key,
            environment={constants.ENV_TABLE_NAME: database.main_table.table_name, **self.queue_environment},
            on_failure=self.dead_letter_queue,
            retry_attempts=constants.EXPORT_ASYNC_RETRIES,
            max_event_age=constants.EXPORT_MAX_EVENT_AGE,
        )
        database.grant(self.function, constants.EXPORT_TABLE_ACTIONS, constants.EXPORT_INDEX_ACTIONS)
        self.grant_send(self.function)
        self.worker = self._worker(tenant, database, layers)

        # Named, so the key policy can name the rule's ARN without referring to it (the rule refers to its
        # dead-letter queue, which refers to the key).
        rule_name = f"{tenant.resource_prefix}-ExportSchedule"
        key.allow_event_rule(
            Stack.of(self).format_arn(
                service="events", resource="rule", resource_name=rule_name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
            )
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            rule_name=rule_name,
            description=f"Runs the Timerack export dispatcher for tenant {tenant.name}",
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
    def lanes(self) -> tuple[WorkQueue, WorkQueue]:
        return (self.bulk, self.priority)

    @property
    def queue_environment(self) -> dict[str, str]:
        """What a function that queues clients reads: the two lanes, and the destination's name for the run."""
        return {
            constants.ENV_EXPORT_QUEUE_URL: self.bulk.queue.queue_url,
            constants.ENV_EXPORT_PRIORITY_QUEUE_URL: self.priority.queue.queue_url,
            constants.ENV_EXPORT_DESTINATION: self._tenant.export_destination,
        }

    @property
    def destination_environment(self) -> dict[str, str]:
        """What a function that sends a client reads: the destination and what it (and nothing else) needs."""
        environment: dict[str, str] = {constants.ENV_EXPORT_DESTINATION: self._tenant.export_destination}
        if self.api_token is not None:
            assert self._tenant.timerack_api_url is not None  # TenantConfig requires it for https
            environment[constants.ENV_TIMERACK_API_URL] = self._tenant.timerack_api_url
            environment[constants.ENV_TIMERACK_API_TOKEN_SECRET_ARN] = self.api_token.secret_arn
        if self.bucket is not None:
            environment[constants.ENV_EXPORT_BUCKET] = self.bucket.bucket_name
        return environment

    def grant_send(self, function: BridgeFunction) -> None:
        """Let `function` queue clients on both lanes (SQS encrypts each message with the tenant's key)."""
        function.allow_send_to(*(lane.queue for lane in self.lanes))

    def grant_dispatch(self, function: BridgeFunction) -> None:
        """Let `function` hand a run to the dispatcher (an async invoke of the unqualified function, nothing else:
        not its versions or aliases). A failed dispatch goes where the dispatcher's async failures go: Lambda
        retries it, then sends it to the dispatcher's on-failure destination (its dead-letter queue)."""
        function.allow(["lambda:InvokeFunction"], [self.function.function.function_arn])

    def grant_run(self, function: BridgeFunction) -> None:
        """Let `function` deliver an export: read the Timerack token, or drop files into the bucket (both
        encrypted with the tenant's key)."""
        if self.api_token is not None:
            function.allow(["secretsmanager:GetSecretValue"], [self.api_token.secret_arn])
            function.allow_key(DECRYPT)
        if self.bucket is not None:
            function.allow(["s3:PutObject"], [self.bucket.arn_for_objects("*")])
            function.allow_key(ENCRYPT)
            acknowledge(
                function.role,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/*]",
                "The export writes one object per client key into this one bucket; object ARNs need the key wildcard.",
            )

    def _api_token(self) -> secretsmanager.Secret:
        """Timerack's API token: created holding the placeholder the export refuses (a clear configuration error
        per client, and the failed-exports alarm) until an admin puts the token Timerack issued. The value in
        the template never changes, so a later deploy never overwrites the real token."""
        secret = secretsmanager.Secret(
            self,
            "TimerackApiToken",
            description=f"Timerack API token for tenant {self._tenant.name}; put the real value after deploy",
            secret_string_value=SecretValue.unsafe_plain_text(TOKEN_PLACEHOLDER),
            encryption_key=self._key.key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            secret,
            "AwsSolutions-SMG4",
            "Timerack issues this API token; it cannot be rotated from AWS. Admins replace it "
            "(put-secret-value) when Timerack issues a new one.",
        )
        return secret

    def _lane(self, construct_id: str, purpose: str) -> WorkQueue:
        return work_queue(
            self,
            construct_id,
            purpose=f"the export's {purpose}",
            visibility_timeout=QUEUE_VISIBILITY_TIMEOUT,
            max_receives=MAX_RECEIVES,
            retention=constants.EXPORT_QUEUE_RETENTION,
            key=self._key.key,
        )

    def _worker(self, tenant: TenantConfig, database: Database, layers: Layers) -> BridgeFunction:
        """The worker, fed one message at a time by both lanes; a failed message is reported, not the batch."""
        worker = BridgeFunction(
            self,
            "Worker",
            tenant=tenant,
            spec=EXPORT_WORKER_SPEC,
            layers=layers,
            key=self._key,
            environment={
                constants.ENV_TABLE_NAME: database.main_table.table_name,
                **self.destination_environment,
                **self.queue_environment,
                constants.ENV_EXPORT_MAX_RECEIVES: str(MAX_RECEIVES),
                constants.ENV_EXPORT_LEASE_SECONDS: str(constants.EXPORT_LEASE_SECONDS),
            },
        )
        database.grant(worker, constants.EXPORT_WORKER_TABLE_ACTIONS, constants.EXPORT_WORKER_INDEX_ACTIONS)
        self.grant_run(worker)
        # A change saved while the client was sent, and a change still waiting for another export's lease at
        # its last receive, are queued again on the priority lane.
        worker.allow_send_to(self.priority.queue)
        for lane, concurrency in (
            (self.bulk, tenant.export_concurrency),
            (self.priority, constants.EXPORT_PRIORITY_CONCURRENCY),
        ):
            # Also grants consuming the lane: receive, delete and ChangeMessageVisibility (a retry's backoff),
            # and kms:Decrypt on the tenant's key.
            worker.function.add_event_source(
                event_sources.SqsEventSource(
                    lane.queue,
                    batch_size=constants.EXPORT_BATCH_SIZE,
                    report_batch_item_failures=True,
                    max_concurrency=concurrency,
                )
            )
        acknowledge(
            worker.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source mapping takes no on-failure destination (only stream and Kafka sources do); "
            f"each lane's redrive moves a message to its dead-letter queue after {MAX_RECEIVES} receives.",
        )
        return worker

    def _export_bucket(self) -> s3.Bucket:
        """The S3 destination: versioned, encrypted with the tenant's key (the files hold PINs), old versions
        expired within days; readable by the tenant's `timerackPrincipal` and nobody else outside the account."""
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logs can only be delivered to a bucket encrypted with S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=constants.EXPORT_ACCESS_LOG_EXPIRATION)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket of the export bucket; logging it into itself would loop.",
        )
        bucket = s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self._key.key,
            # One data key per bucket and hour instead of a KMS call per object.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="export-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    noncurrent_version_expiration=constants.EXPORT_NONCURRENT_VERSION_EXPIRATION,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    expired_object_delete_marker=True,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        if self._tenant.timerack_principal:
            self._let_timerack_read(bucket, _principal(self._tenant.timerack_principal))
        return bucket

    def _let_timerack_read(self, bucket: s3.Bucket, principal: iam.IPrincipal) -> None:
        """List the bucket and read its objects, and decrypt them through S3: Timerack's account (or role)
        must still allow the same on its side (IAM), as for any access across accounts."""
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TimerackListsTheExports",
                principals=[principal],
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TimerackReadsTheExports",
                principals=[principal],
                actions=["s3:GetObject"],
                resources=[bucket.arn_for_objects("*")],
            )
        )
        self._key.allow_decrypt_through_s3(principal)


def _principal(value: str) -> iam.IPrincipal:
    """`timerackPrincipal`: an account id (any principal of that account its own IAM allows), or a role ARN."""
    return iam.AccountPrincipal(value) if value.isdigit() else iam.ArnPrincipal(value)


def _logical_id(construct: Construct) -> str:
    """The CloudFormation logical id cdk-nag prints in a finding about this construct's ARN."""
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]
