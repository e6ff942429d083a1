"""The local runtime's composition root: the product's adapters built on the moto stand-in, as the functions'
own roots build them on AWS (one `Services` and one resolver per API instance)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.config import IDEMPOTENCY_TABLE_NAME, MAIN_TABLE_NAME, REGION

if TYPE_CHECKING:
    from timerack_bridge.api.deps import Services

ProxyHandler = Callable[[dict[str, Any]], dict[str, Any]]


def stand_in_client(service: str, moto_url: str) -> Any:
    """A boto3 client of the stand-in (moto's server on 127.0.0.1)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        service,
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's stand-in credentials
        config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32),
    )


def api_services(moto_url: str, outbox_dir: Path) -> Services:
    """The API's settings and adapters on the stand-in; exports go to the outbox directory."""
    from timerack_bridge.adapters.destinations import OutboxDestination
    from timerack_bridge.api.deps import Services
    from timerack_bridge.config import ApiSettings

    # The tables and outbox are the runtime's; the rest (PAY_CODES, WEEK_ENDING_DAY, ...) as the environment sets it.
    settings = ApiSettings.from_env(
        {
            **os.environ,
            "TABLE_NAME": MAIN_TABLE_NAME,
            "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE_NAME,
            "EXPORT_DESTINATION": "outbox",
            "EXPORT_OUTBOX_DIR": str(outbox_dir),
        }
    )
    dynamodb = stand_in_client("dynamodb", moto_url)
    return Services(settings, dynamodb=dynamodb, destination=OutboxDestination(outbox_dir))


def api_instance(moto_url: str, outbox_dir: Path) -> ProxyHandler:
    """One API instance's cold start: its services and its own resolver; then one proxy event at a time."""
    import warnings

    from timerack_bridge.api.app import build_app
    from timerack_bridge.api.handler import handle

    # No Lambda context here: Powertools idempotency cannot read the remaining time, by design.
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    services = api_services(moto_url, outbox_dir)
    app = build_app()
    return lambda event: handle(event, None, services, app)
