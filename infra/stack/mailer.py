"""The error-file mailer: the mailer function and its stream mapping, filtered down to completed Payroll History
batches that have errors, sending as the tenant's SES identity (which the regional stack owns: two tenants of
one account and region may share a sender address)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.encryption import TenantKey
from infra.stack.functions import BridgeFunction, FunctionSpec, Layers
from infra.stack.intake import IntakeJob
from infra.stack.queues import dead_letter_queue

MAILER_SPEC = FunctionSpec(
    folder=constants.MAILER_FUNCTION,
    handler=constants.MAILER_HANDLER,
    memory_mb=constants.MAILER_MEMORY_MB,
    timeout=constants.MAILER_TIMEOUT,
    description="Emails a client's payroll recipients the CSV error file of a batch with errors",
)


def batch_with_errors_filters() -> list[Mapping[str, Any]]:
    """Only a batch record (sk = BATCH) written as completed with hasErrors = true, whose error file was
    asked for when it was sent (or that predates the setting on the batch), wakes the mailer."""
    from timerack_bridge.adapters.dynamodb.stream_filter import ERROR_FILE_STREAM_FILTERS

    # The one definition the local runtime's stream poller applies too.
    return [lambda_.FilterCriteria.filter(pattern) for pattern in ERROR_FILE_STREAM_FILTERS]


@jsii.implements(lambda_.IEventSourceDlq)
class QueueDlq:
    """A stream mapping's on-failure destination: the queue's ARN, without the grant CDK's SqsDlq adds
    (`kms:ReEncrypt*`, `kms:GenerateDataKey*`, ...): the Mailer grants what Lambda uses."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self, target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        return lambda_.DlqDestinationConfig(destination=self.queue.queue_arn)


def sender_identity_arn(scope: Construct, tenant: TenantConfig) -> str:
    """The ARN of the SES identity of the tenant's sender address, which the regional stack creates."""
    return Stack.of(scope).format_arn(
        service="ses", resource="identity", resource_name=tenant.sender_email, arn_format=ArnFormat.SLASH_RESOURCE_NAME
    )


class Mailer(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        tenant: TenantConfig,
        database: Database,
        layers: Layers,
        intake: IntakeJob,
        key: TenantKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.sender_identity_arn = sender_identity_arn(self, tenant)
        self.failure_queue = dead_letter_queue(
            self, "FailureQueue", receives="the mailer's stream mapping", key=key.key
        )
        self.function = BridgeFunction(
            self,
            "Handler",
            tenant=tenant,
            spec=MAILER_SPEC,
            layers=layers,
            key=key,
            environment={
                constants.ENV_TABLE_NAME: database.main_table.table_name,
                constants.ENV_SENDER_EMAIL: tenant.sender_email,
                # A batch too big for its Payroll History item keeps its results there.
                constants.ENV_INTAKE_BUCKET: intake.bucket.bucket_name,
            },
        )
        database.grant(self.function, constants.MAILER_TABLE_ACTIONS, constants.MAILER_INDEX_ACTIONS)
        self.function.allow(constants.STREAM_READ_ACTIONS, [database.stream_arn])
        self.function.allow(constants.MAILER_SES_ACTIONS, [self.sender_identity_arn])
        intake.grant_objects(self.function, constants.MAILER_INTAKE_OBJECT_ACTIONS)
        # Lambda sends a record that failed every retry to the failure queue with the function's role.
        self.function.allow_send_to(self.failure_queue)

        self.stream_mapping = lambda_.EventSourceMapping(
            self,
            "StreamMapping",
            target=self.function.function,
            event_source_arn=database.stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=constants.MAILER_BATCH_SIZE,
            filters=batch_with_errors_filters(),
            bisect_batch_on_error=True,
            retry_attempts=constants.MAILER_RETRY_ATTEMPTS,
            max_record_age=constants.MAILER_MAX_RECORD_AGE,
            report_batch_item_failures=True,
            on_failure=QueueDlq(self.failure_queue),
        )
        # Lambda checks the role can read the stream when the mapping is created.
        policy = self.function.role.node.try_find_child("DefaultPolicy")
        if isinstance(policy, iam.Policy):
            self.stream_mapping.node.add_dependency(policy)
