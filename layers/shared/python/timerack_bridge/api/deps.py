"""What the routes need (settings, stores), built lazily on first use and replaceable in tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timerack_bridge.config import Settings, get_settings


@dataclass
class Services:
    settings: Settings
    dynamodb: Any

    def __post_init__(self) -> None:
        from timerack_bridge.adapters.dynamodb.admin import AdminStore
        from timerack_bridge.adapters.dynamodb.payroll_history import BatchStore
        from timerack_bridge.adapters.dynamodb.timecards import TimecardStore

        self.admin = AdminStore(self.dynamodb, self.settings.table_name)
        self.batches = BatchStore(self.dynamodb, self.settings.table_name)
        self.timecards = TimecardStore(self.dynamodb, self.settings.table_name)


_current: Services | None = None


def build_services(dynamodb_client: Any | None = None, settings: Settings | None = None) -> Services:
    if dynamodb_client is None:
        import boto3
        from botocore.config import Config

        # No client-side parameter validation: it walks every attribute of every item of every call
        # (a fifth to a quarter of a batch's client CPU), and DynamoDB validates each request anyway. What
        # reaches the client is built by the stores from pydantic models that already bound every input.
        dynamodb_client = boto3.client(
            "dynamodb",
            config=Config(
                retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=32, parameter_validation=False
            ),
        )
    return Services(settings=settings or get_settings(), dynamodb=dynamodb_client)


def use(services: Services | None) -> None:
    """Make these services the ones the routes see (the handler calls it; tests may too)."""
    global _current
    _current = services


def services() -> Services:
    global _current
    if _current is None:
        _current = build_services()
    return _current


def current_settings() -> Settings:
    """The current services' settings, without building their DynamoDB client when there are none yet
    (the handler checks the body size before routing: a health check needs no client)."""
    current = _current
    return current.settings if current is not None else get_settings()
