"""Mailer function: the table's stream (completed batches with errors) in, error-file emails out.

The composition root: the settings are read at init (a missing or malformed variable fails the cold
start, naming it); the store and the SES client are built once, on the first invoke, and handed in; the
S3 client of the intake bucket (a big batch's results) only by the first record whose results are there.
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

    from timerack_bridge.adapters.batch_objects import S3BatchObjects
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.payroll_history import ResultsReader
    from timerack_bridge.logic.error_file import ErrorFileMailer

# The mailer's code (Powertools batch processing, SES, the stores) and boto3's clients load on the
# first invoke, not at import (docs/benchmarks.md): init loads Powertools and the settings model only.

# Service and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (the stack).
logger = Logger()
metrics = Metrics()


settings = MailerSettings.from_env()


class BucketResults:
    """The intake bucket's results (batches too big for their record): its S3 client is built by the first
    record that needs it, as most batches keep their results inline."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self._objects: S3BatchObjects | None = None

    @property
    def built(self) -> bool:
        return self._objects is not None

    def get_results(self, key: str) -> bytes:
        if self._objects is None:
            import boto3

            from timerack_bridge.adapters.batch_objects import S3BatchObjects

            self._objects = S3BatchObjects(boto3.client("s3"), self.bucket)
        return self._objects.get_results(key)


def bucket_results(mailer_settings: MailerSettings) -> BucketResults | None:
    """The intake bucket's results when INTAKE_BUCKET is set (without it, every batch's results are inline)."""
    bucket = mailer_settings.intake_bucket
    return BucketResults(bucket) if bucket else None


@dataclass(frozen=True)
class MailerAdapters:
    settings: MailerSettings
    admin_store: AdminStore
    ses_client: Any
    results_objects: ResultsReader | None = None

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
        results_objects=bucket_results(settings),
    )


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: MailerAdapters | None = None
) -> dict[str, Any]:
    from timerack_bridge.mail_stream import mail_error_files

    adapters = adapters or cold_start_adapters()
    return mail_error_files(event, adapters.mailer, context, adapters.results_objects)
