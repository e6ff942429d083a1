"""API function: "Send to TempWorks", Payroll History and the admin routes (docs/contract.md).

The composition root: the settings are read at init (a missing or malformed variable fails the cold
start, naming it); the DynamoDB client, the stores and the resolver are built once, on the first
request, and handed to every request. Tests and the local runtime hand in their own `ApiInstance`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

from timerack_bridge.config import ApiSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from timerack_bridge.api.app import Resolver
    from timerack_bridge.api.deps import Services

logger = Logger()
settings = ApiSettings.from_env()


@dataclass(frozen=True)
class ApiInstance:
    """What one Lambda instance of the API serves requests with: its services and its own resolver."""

    services: Services
    app: Resolver


def build_instance(services: Services) -> ApiInstance:
    from timerack_bridge.api.app import build_app

    return ApiInstance(services=services, app=build_app())


@lru_cache(maxsize=1)
def cold_start_instance() -> ApiInstance:
    """Built on the first request (the resolver, routes and models are the API's costliest import), then reused."""
    from timerack_bridge.api.deps import build_services

    return build_instance(build_services(settings))


# Where the environment is initialised ahead of traffic (provisioned concurrency, SnapStart), build
# the instance now: that work is then off the first request.
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in ("provisioned-concurrency", "snap-start"):
    cold_start_instance()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, instance: ApiInstance | None = None
) -> dict[str, Any]:
    from timerack_bridge.api.handler import handle
    from timerack_bridge.logic.intake import deferred_full_collections

    serving = instance or cold_start_instance()
    # A batch's body, its timecards and its reply live for the whole request: no full collection meanwhile.
    with deferred_full_collections:
        return handle(event, context, serving.services, serving.app)
