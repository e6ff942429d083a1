"""The error-file mailer: the tenant's SES identity, the mailer function and its stream mapping,
filtered down to completed Payroll History batches that have errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_ses as ses
from constructs import Construct

import infra.stack.constants as constants
from infra.stack.config import TenantConfig
from infra.stack.database import Database
from infra.stack.functions import BridgeFunction, FunctionSpec, Layers
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


class Mailer(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, tenant: TenantConfig, database: Database, layers: Layers
    ) -> None:
        super().__init__(scope, construct_id)
        self.sender_identity = ses.EmailIdentity(
            self, "SenderIdentity", identity=ses.Identity.email(tenant.sender_email)
        )
        self.failure_queue = dead_letter_queue(self, "FailureQueue", receives="the mailer's stream mapping")
        self.function = BridgeFunction(
            self,
            "Handler",
            tenant=tenant,
            spec=MAILER_SPEC,
            layers=layers,
            environment={
                constants.ENV_TABLE_NAME: database.main_table.table_name,
                constants.ENV_SENDER_EMAIL: tenant.sender_email,
            },
        )
        self.function.allow(constants.MAILER_TABLE_ACTIONS, database.main_table_resources)
        self.function.allow(constants.STREAM_READ_ACTIONS, [database.stream_arn])
        self.function.allow(["ses:SendEmail", "ses:SendRawEmail"], [self.sender_identity.email_identity_arn])

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
            on_failure=event_sources.SqsDlq(self.failure_queue),
        )
        # Lambda checks the role can read the stream when the mapping is created.
        policy = self.function.role.node.try_find_child("DefaultPolicy")
        if isinstance(policy, iam.Policy):
            self.stream_mapping.node.add_dependency(policy)
