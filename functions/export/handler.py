"""The export dispatcher: the hourly EventBridge schedule, a direct invoke `{"clientKey": "..."}`, or a run
of many clients the API recorded and handed over (its async invoke `{"runId", "trigger", "hierarchyNodeIds"}`).

Thin: read the event, queue the run's clients (one message each: the export workers send them),
publish metrics, return the run as dispatched (camelCase JSON). The hourly tick queues every client
on the bulk lane as of the tick's UTC day; a direct invoke queues one client on the priority lane; a
handed-over run queues its clients (every client, or those at the rep's nodes) on the bulk lane, under its id.

The composition root: the settings are read at init (a missing or malformed variable fails the cold
start, naming it); the store and the queue are built once, on the first invoke, and handed in.
Tests hand in their own `ExportAdapters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from timerack_bridge.config import ExportSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.domain.export_models import DispatchRequest, ExportRequest, ExportRunSummary, RunTrigger
    from timerack_bridge.logic.ports import ExportQueue

# The dispatcher's code, Powertools' parser models and boto3's clients load on the first invoke,
# not at import (docs/benchmarks.md): init loads Powertools and the settings model only.

logger = Logger()  # service from POWERTOOLS_SERVICE_NAME, as the module loggers (child=True) under it
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE

SCHEDULED_EVENT = "Scheduled Event"


settings = ExportSettings.from_env()


@dataclass(frozen=True)
class ExportAdapters:
    admin_store: AdminStore
    queue: ExportQueue

    @property
    def runs(self) -> ExportRunStore:
        """Where the run is recorded: the admin store's table."""
        from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore

        return ExportRunStore(self.admin_store.client, self.admin_store.table_name)


@lru_cache(maxsize=1)
def cold_start_adapters() -> ExportAdapters:
    """Built on the first invoke (never at import), then reused by the warm execution environment."""
    import boto3

    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.export_queue import QueueUrls, SqsExportQueue

    urls = QueueUrls(bulk=settings.export_queue_url, priority=settings.export_priority_queue_url)
    return ExportAdapters(
        AdminStore(boto3.client("dynamodb"), settings.table_name), SqsExportQueue(boto3.client("sqs"), urls)
    )


def export_request(event: dict[str, Any]) -> tuple[ExportRequest, date | None, RunTrigger]:
    """What to queue, as of which day, and who asked.

    The schedule queues every client as of the day of its tick (UTC), so a delayed or replayed event
    still covers the window it was meant for; a direct invoke queues one client (or all), exported as
    of the day its worker takes it.
    """
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    from timerack_bridge.domain.export_models import ExportRequest

    if event.get("detail-type") == SCHEDULED_EVENT:
        tick = EventBridgeModel.model_validate(event)
        return ExportRequest(), tick.time.astimezone(UTC).date(), "hourly"
    return ExportRequest.model_validate(event), None, "invoke"


def handed_over(event: dict[str, Any]) -> DispatchRequest | None:
    """A run of many clients the API recorded and handed over (its async invoke: `{"runId", "trigger",
    "hierarchyNodeIds"}`), to be queued under its id; None for the schedule's event and `{"clientKey"}`."""
    if "runId" not in event:
        return None
    from timerack_bridge.domain.export_models import DispatchRequest

    return DispatchRequest.model_validate(event)


def publish_metrics(summary: ExportRunSummary) -> None:
    counts = summary.counts
    skipped = counts.skipped_not_primary + counts.skipped_not_client + counts.skipped_locked
    metrics.add_metric(name="clients", unit=MetricUnit.Count, value=counts.queued + counts.failed + skipped)
    metrics.add_metric(name="queued", unit=MetricUnit.Count, value=counts.queued)
    metrics.add_metric(name="skipped", unit=MetricUnit.Count, value=skipped)
    # Clients the queue refused (recorded failed): the next run queues them again.
    metrics.add_metric(name="failures", unit=MetricUnit.Count, value=counts.failed)


def sweep_lost_exports(runs: ExportRunStore) -> None:
    """Before the hourly run queues: the clients of the last day's runs whose export was lost (still
    queued, no news for longer than every retry takes) are recorded failed. Never fails the dispatch."""
    from datetime import timedelta

    from timerack_bridge.adapters.export_queue import MAX_RECEIVES, VISIBILITY_TIMEOUT_SECONDS
    from timerack_bridge.logic.export_dispatch import settle_lost_exports
    from timerack_bridge.logic.export_worker import retry_window_seconds

    lost_after = timedelta(seconds=retry_window_seconds(MAX_RECEIVES, VISIBILITY_TIMEOUT_SECONDS))
    try:
        lost = settle_lost_exports(runs, lost_after=lost_after)
    except Exception as exc:  # noqa: BLE001 - the next hour sweeps again; the clients must still be queued
        logger.error("the sweep of lost exports failed", extra={"error": type(exc).__name__})
        return
    metrics.add_metric(name="lost", unit=MetricUnit.Count, value=lost)


@logger.inject_lambda_context(clear_state=True, correlation_id_path=correlation_paths.EVENT_BRIDGE)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: ExportAdapters | None = None
) -> dict[str, Any]:
    from timerack_bridge.logic.export_dispatch import continue_dispatch, dispatch

    if (handover := handed_over(event)) is not None:
        adapters = adapters or cold_start_adapters()
        summary = continue_dispatch(adapters.admin_store, adapters.queue, adapters.runs, handover)
        publish_metrics(summary)
        return summary.model_dump(mode="json", by_alias=True)
    request, as_of, trigger = export_request(event)
    adapters = adapters or cold_start_adapters()
    if trigger == "hourly":
        sweep_lost_exports(adapters.runs)
    summary = dispatch(
        adapters.admin_store,
        adapters.queue,
        adapters.runs,
        trigger=trigger,
        destination=settings.export_destination,
        as_of=as_of,
        client_key=request.client_key,
    )
    publish_metrics(summary)
    return summary.model_dump(mode="json", by_alias=True)
