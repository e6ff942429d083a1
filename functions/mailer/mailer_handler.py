"""Mailer function: the table's stream (completed batches with errors) in, error-file emails out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.mailer_settings import MailerSettings

# The mailer's code (Powertools batch processing, SES, the stores) and boto3's clients load on the
# first invoke, not at import (docs/benchmarks.md): the cold-start import stays near the floor.

# Service and metrics namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE (the stack).
logger = Logger()
metrics = Metrics()
tracer = Tracer()


@dataclass(frozen=True)
class MailerDependencies:
    settings: MailerSettings
    admin_store: AdminStore
    ses_client: Any


@lru_cache(maxsize=1)
def dependencies() -> MailerDependencies:
    """Configuration and clients, built on the first invocation (never at import) and reused."""
    import boto3

    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.mailer_settings import MailerSettings

    settings = MailerSettings.from_env()
    return MailerDependencies(
        settings=settings,
        admin_store=AdminStore(boto3.client("dynamodb"), settings.table_name),
        ses_client=boto3.client("sesv2"),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from timerack_bridge.logic.error_file import process_stream_event

    deps = dependencies()
    return process_stream_event(
        event,
        admin_store=deps.admin_store,
        ses_client=deps.ses_client,
        sender=deps.settings.sender_email,
        outbox_dir=deps.settings.email_outbox_dir,
        metrics=metrics,
        context=context,
    )
