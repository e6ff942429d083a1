"""Mailer function: the table's stream (completed batches with errors) in, error-file emails out.

The composition root: the settings are read at init (a missing or malformed variable fails the cold
start, naming it); the store and the SES client are built once, on the first invoke, and handed in.
Tests hand in their own `MailerAdapters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics

from timerack_bridge.config import MailerSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.logic.error_file import ErrorFileMailer

# The mailer's code (Powertools batch processing, SES, the stores) and boto3's clients load on the
# first invoke, not at import (docs/benchmarks.md): init loads Powertools and the settings model only.

# Service and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (the stack).
logger = Logger()
metrics = Metrics()


settings = MailerSettings.from_env()


@dataclass(frozen=True)
class MailerAdapters:
    settings: MailerSettings
    admin_store: AdminStore
    ses_client: Any

    @cached_property
    def mailer(self) -> ErrorFileMailer:
        """Built once per cold start, with the adapters above."""
        from timerack_bridge.mail_stream import error_file_mailer

        return error_file_mailer(
            admin_store=self.admin_store,
            ses_client=self.ses_client,
            sender=self.settings.sender_email,
            outbox_dir=self.settings.email_outbox_dir,
            configuration_set=self.settings.ses_configuration_set,
            metrics=metrics,
        )


@lru_cache(maxsize=1)
def cold_start_adapters() -> MailerAdapters:
    """The clients, built on the first invocation (never at import) and reused."""
    import boto3

    from timerack_bridge.adapters.dynamodb.admin import AdminStore

    return MailerAdapters(
        settings=settings,
        admin_store=AdminStore(boto3.client("dynamodb"), settings.table_name),
        ses_client=boto3.client("sesv2"),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: MailerAdapters | None = None
) -> dict[str, Any]:
    from timerack_bridge.mail_stream import mail_error_files

    return mail_error_files(event, (adapters or cold_start_adapters()).mailer, context)
