"""The asynchronous intake: a batch over SYNC_BATCH_TIMECARDS is stored in the intake bucket, queued by id, and
written by the intake worker (one batch per message); a schedule every 15 minutes runs the worker's sweep,
which queues again a batch accepted but never picked up.

The bucket holds, by prefix (timerack_bridge/adapters/batch_objects.py): `intake/` accepted bodies (expired
after 7 days: the worker removes each one it wrote), `uploads/` bodies a client PUT through a presigned URL
(expired after a day) and `results/` the results too big for their Payroll History item (kept, as the batch is).
Each function is granted only the prefixes and actions its code uses (constants.*_INTAKE_OBJECT_ACTIONS)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import ArnFormat, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_s3 as s3
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.encryption import DECRYPT, ENCRYPT, TenantKey
from infra.stack.functions import BridgeFunction, FunctionSpec, Layers
from infra.stack.nag import acknowledge
from infra.stack.queues import dead_letter_queue, work_queue

INTAKE_WORKER_SPEC = FunctionSpec(
    folder=constants.INTAKE_WORKER_FUNCTION,
    handler=constants.INTAKE_WORKER_HANDLER,
    memory_mb=constants.INTAKE_WORKER_MEMORY_MB,
    timeout=constants.INTAKE_WORKER_TIMEOUT,
    description="Intake worker: writes one accepted timecard batch per queue message; sweeps unqueued batches",
)


class IntakeJob(Construct):
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
        self._key = key
        self.bucket = self._bucket()
        work = work_queue(
            self,
            "Queue",
            purpose="the intake worker (accepted batches)",
            visibility_timeout=constants.INTAKE_QUEUE_VISIBILITY_TIMEOUT,
            max_receives=constants.INTAKE_MAX_RECEIVES,
            retention=constants.INTAKE_QUEUE_RETENTION,
            key=key.key,
        )
        self.queue, self.dead_letter_queue = work.queue, work.dead_letter_queue
        self.sweep_dead_letter_queue = dead_letter_queue(
            self, "SweepDlq", receives="the intake sweep's schedule and its async runs", key=key.key
        )
        self.worker = self._worker(tenant, database, layers)
        self.schedule = self._sweep_schedule(tenant)

    @property
    def environment(self) -> dict[str, str]:
        """What a function that stores or queues a batch reads (the API, the worker)."""
        return {
            constants.ENV_INTAKE_BUCKET: self.bucket.bucket_name,
            constants.ENV_INTAKE_QUEUE_URL: self.queue.queue_url,
        }

    def grant_accept(self, function: BridgeFunction) -> None:
        """The API: store bodies, results and uploads (constants.API_INTAKE_OBJECT_ACTIONS), queue a batch."""
        self.grant_objects(function, constants.API_INTAKE_OBJECT_ACTIONS)
        function.allow_send_to(self.queue)

    def grant_objects(self, function: BridgeFunction, actions: Mapping[str, Sequence[str]]) -> None:
        """`actions` on the bucket's objects under each prefix, and the key for what they read and write."""
        for prefix, prefix_actions in actions.items():
            function.allow(sorted(prefix_actions), [self.bucket.arn_for_objects(f"{prefix}*")])
            acknowledge(
                function.role,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.bucket)}.Arn>/{prefix}*]",
                f"One object per batch under {prefix} of the tenant's intake bucket: object ARNs need the "
                "batch id wildcard; the prefix keeps the role to what its code uses.",
            )
        writes = any("s3:PutObject" in a for a in actions.values())
        function.allow_key(ENCRYPT if writes else DECRYPT)

    def _bucket(self) -> s3.Bucket:
        access_logs = s3.Bucket(
            self,
            "AccessLogs",
            # S3 server access logs can only be delivered to a bucket encrypted with S3-managed keys.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            lifecycle_rules=[s3.LifecycleRule(expiration=constants.INTAKE_ACCESS_LOG_EXPIRATION)],
            removal_policy=RemovalPolicy.RETAIN,
        )
        acknowledge(
            access_logs,
            "AwsSolutions-S1",
            "This is the access-log bucket of the intake bucket; logging it into itself would loop.",
        )
        # Not versioned: each object is written once under its batch id, and a body is removed once written.
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self._key.key,
            # One data key per bucket and hour instead of a KMS call per object.
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="intake-bucket/",
            lifecycle_rules=[
                s3.LifecycleRule(prefix=constants.INTAKE_BODY_PREFIX, expiration=constants.INTAKE_BODY_EXPIRATION),
                s3.LifecycleRule(prefix=constants.INTAKE_UPLOAD_PREFIX, expiration=constants.INTAKE_UPLOAD_EXPIRATION),
                s3.LifecycleRule(abort_incomplete_multipart_upload_after=constants.INTAKE_UPLOAD_EXPIRATION),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _worker(self, tenant: TenantConfig, database: Database, layers: Layers) -> BridgeFunction:
        worker = BridgeFunction(
            self,
            "Worker",
            tenant=tenant,
            spec=INTAKE_WORKER_SPEC,
            layers=layers,
            key=self._key,
            environment={
                constants.ENV_TABLE_NAME: database.main_table.table_name,
                constants.ENV_PAY_CODES: ",".join(tenant.pay_codes),
                constants.ENV_WEEK_ENDING_DAY: tenant.week_ending_day,
                constants.ENV_INTAKE_MAX_RECEIVES: str(constants.INTAKE_MAX_RECEIVES),
                **self.environment,
            },
            # The sweep's runs (the schedule invokes it asynchronously) that fail are kept and alarmed.
            on_failure=self.sweep_dead_letter_queue,
            retry_attempts=constants.INTAKE_SWEEP_RETRIES,
            max_event_age=constants.INTAKE_SWEEP_MAX_EVENT_AGE,
        )
        database.grant(worker, constants.INTAKE_WORKER_TABLE_ACTIONS, constants.INTAKE_WORKER_INDEX_ACTIONS)
        self.grant_objects(worker, constants.INTAKE_WORKER_OBJECT_ACTIONS)
        # The sweep queues again a batch accepted but never queued.
        worker.allow_send_to(self.queue)
        # Also grants consuming the queue (receive, delete, visibility) and kms:Decrypt on the tenant's key.
        worker.function.add_event_source(
            event_sources.SqsEventSource(
                self.queue,
                batch_size=constants.INTAKE_BATCH_SIZE,
                report_batch_item_failures=True,
                max_concurrency=constants.INTAKE_WORKER_CONCURRENCY,
            )
        )
        acknowledge(
            worker.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source mapping takes no on-failure destination (only stream and Kafka sources do); the "
            f"intake queue's redrive moves a batch to its dead-letter queue after {constants.INTAKE_MAX_RECEIVES} "
            "receives.",
        )
        return worker

    def _sweep_schedule(self, tenant: TenantConfig) -> events.Rule:
        # Named, so the key policy can name the rule's ARN without referring to it (see ExportJob's schedule).
        rule_name = f"{tenant.resource_prefix}-IntakeSweep"
        self._key.allow_event_rule(
            Stack.of(self).format_arn(
                service="events", resource="rule", resource_name=rule_name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
            )
        )
        return events.Rule(
            self,
            "SweepSchedule",
            rule_name=rule_name,
            description=f"Runs the intake worker's sweep of accepted batches never queued, for tenant {tenant.name}",
            schedule=events.Schedule.rate(constants.INTAKE_SWEEP_SCHEDULE),
            targets=[
                targets.LambdaFunction(
                    self.worker.function,
                    dead_letter_queue=self.sweep_dead_letter_queue,
                    retry_attempts=constants.SCHEDULE_RETRY_ATTEMPTS,
                    max_event_age=constants.SCHEDULE_MAX_EVENT_AGE,
                )
            ],
        )


def _logical_id(construct: Construct) -> str:
    """The CloudFormation logical id cdk-nag prints in a finding about this construct's ARN."""
    stack = Stack.of(construct)
    return str(stack.resolve(stack.get_logical_id(construct.node.default_child)))  # type: ignore[arg-type]
