"""The export function: the hourly EventBridge schedule, or a direct invoke `{"clientKey": "..."}`.

Thin: read the event, run the export, publish metrics, return the run (camelCase JSON).
The composition root: the settings are read at init (a missing or malformed variable fails the cold
start, naming it); the store and the destination are built once, on the first invoke, and handed in.
Tests hand in their own `ExportAdapters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from timerack_bridge.config import ExportSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.adapters.destinations import ExportDestination
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.domain.export_models import ExportRequest, ExportRun

# The export's own code, Powertools' parser models and boto3's client load on the first invoke,
# not at import (docs/benchmarks.md): init loads Powertools and the settings model only.

logger = Logger(service="timerack-bridge")
metrics = Metrics()  # namespace from POWERTOOLS_METRICS_NAMESPACE
tracer = Tracer()

SCHEDULED_EVENT = "Scheduled Event"


settings = ExportSettings.from_env()


@dataclass(frozen=True)
class ExportAdapters:
    admin_store: AdminStore
    destination: ExportDestination

    @property
    def runs(self) -> ExportRunStore:
        """Where the run is recorded: the admin store's table."""
        from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore

        return ExportRunStore(self.admin_store.client, self.admin_store.table_name)


@lru_cache(maxsize=1)
def cold_start_adapters() -> ExportAdapters:
    """Built on the first invoke (never at import), then reused by the warm execution environment."""
    import boto3

    from timerack_bridge.adapters.destinations import destination_for
    from timerack_bridge.adapters.dynamodb.admin import AdminStore

    return ExportAdapters(AdminStore(boto3.client("dynamodb"), settings.table_name), destination_for(settings))


def export_request(event: dict[str, Any]) -> tuple[ExportRequest, date | None]:
    """What to export, and as of which day.

    The schedule exports every client as of the day of its tick (UTC), so a delayed or replayed
    event still covers the window it was meant for; a direct invoke exports one client (or all) now.
    """
    from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

    from timerack_bridge.domain.export_models import ExportRequest

    if event.get("detail-type") == SCHEDULED_EVENT:
        tick = EventBridgeModel.model_validate(event)
        return ExportRequest(), tick.time.astimezone(UTC).date()
    return ExportRequest.model_validate(event), None


def publish_metrics(run: ExportRun) -> None:
    exported = [c for c in run.clients if c.status == "exported"]
    metrics.add_metric(name="clients", unit=MetricUnit.Count, value=len(run.clients))
    metrics.add_metric(name="employees", unit=MetricUnit.Count, value=sum(c.employees for c in exported))
    metrics.add_metric(name="assignments", unit=MetricUnit.Count, value=sum(c.assignments for c in exported))
    metrics.add_metric(name="problems", unit=MetricUnit.Count, value=sum(len(c.problems) for c in exported))
    metrics.add_metric(name="failures", unit=MetricUnit.Count, value=run.failures)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, adapters: ExportAdapters | None = None
) -> dict[str, Any]:
    from timerack_bridge.logic.export_run import run_export

    request, today = export_request(event)
    adapters = adapters or cold_start_adapters()
    run = run_export(
        adapters.admin_store,
        adapters.destination,
        client_key=request.client_key,
        today=today,
        seconds_left=lambda: context.get_remaining_time_in_millis() / 1000,
        runs=adapters.runs,
        trigger="invoke" if today is None else "hourly",  # the schedule's tick sets the day
    )
    publish_metrics(run)
    tracer.put_annotation(key="export_failed", value=run.failures > 0)
    logger.info(
        "export run finished",
        extra={
            "run_id": run.run_id,
            "trigger": run.trigger,
            "destination": run.destination,
            "clients": len(run.clients),
            "exported": run.count("exported"),
            "failed": run.failures,
            "skipped_locked": run.count("skipped-locked"),
            "skipped_not_primary": run.count("skipped-not-primary"),
        },
    )
    return run.model_dump(mode="json", by_alias=True)
