"""What the routes need (settings, stores, the export destination): built by the API's composition root.

Nothing here is global: functions/api/handler.py builds one `Services` per cold start and hands it to
every request (the local runtime and the tests build their own); routes reach it with `services_of`.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from timerack_bridge.config import ApiSettings

if TYPE_CHECKING:
    from timerack_bridge.adapters.destinations import ExportDestination
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.adapters.dynamodb.idempotency import IdempotentSends
    from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore
    from timerack_bridge.adapters.dynamodb.timecards import TimecardStore


class Services:
    """The API's settings and adapters; the DynamoDB client is built on first use (a health check needs none)."""

    def __init__(
        self, settings: ApiSettings, dynamodb: Any | None = None, destination: ExportDestination | None = None
    ) -> None:
        self.settings = settings
        self._dynamodb = dynamodb
        # None: the one the settings name, built on the first export (its HTTP and S3 code loads only then).
        self.destination = destination

    @property
    def dynamodb(self) -> Any:
        if self._dynamodb is None:
            self._dynamodb = dynamodb_client()
        return self._dynamodb

    @cached_property
    def admin(self) -> AdminStore:
        from timerack_bridge.adapters.dynamodb.admin import AdminStore

        return AdminStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def batches(self) -> PayrollHistoryStore:
        from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore

        return PayrollHistoryStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def timecards(self) -> TimecardStore:
        from timerack_bridge.adapters.dynamodb.timecards import TimecardStore

        return TimecardStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def export_runs(self) -> ExportRunStore:
        from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore

        return ExportRunStore(self.dynamodb, self.settings.table_name)

    @cached_property
    def idempotency(self) -> IdempotentSends:
        # Loaded by the first batch with a key, not at cold start (Powertools' JMESPath stack).
        from timerack_bridge.adapters.dynamodb.idempotency import IdempotentSends

        settings = self.settings
        return IdempotentSends(
            self.dynamodb, settings.idempotency_table_name, ttl_seconds=settings.idempotency_ttl_seconds
        )

    def export_destination(self) -> ExportDestination:
        if self.destination is None:
            from timerack_bridge.adapters.destinations import destination_for

            self.destination = destination_for(self.settings)
        return self.destination


def dynamodb_client() -> Any:
    """The API function's DynamoDB client."""
    import boto3
    from botocore.config import Config

    # No client-side parameter validation: it walks every attribute of every item of every call
    # (a fifth to a quarter of a batch's client CPU), and DynamoDB validates each request anyway. What
    # reaches the client is built by the stores from pydantic models that already bound every input.
    return boto3.client(
        "dynamodb",
        config=Config(
            retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=32, parameter_validation=False
        ),
    )


def build_services(settings: ApiSettings) -> Services:
    """The API's adapters for these settings, on the API function's own DynamoDB client (built on first use)."""
    return Services(settings)
