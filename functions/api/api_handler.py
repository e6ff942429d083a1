"""API function: "Send to TempWorks", Payroll History and the admin routes (docs/contract.md)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()

# The resolver, its routes and models load on the first request rather than at import (the
# cold-start target, docs/benchmarks.md). Where the environment is initialised ahead of traffic
# (provisioned concurrency, SnapStart), loading them now takes that work off the first request.
if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in ("provisioned-concurrency", "snap-start"):
    import timerack_bridge.api.handler  # noqa: F401


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from timerack_bridge.api.handler import handle

    return handle(event, context)
