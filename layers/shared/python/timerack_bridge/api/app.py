"""The one resolver: routers per route family, domain exceptions turned into HTTP replies."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from timerack_bridge import __version__
from timerack_bridge.api.routes import admin, exports, history, imports, payroll_email, timecards
from timerack_bridge.exceptions import BridgeError
from timerack_bridge.models import Health

logger = Logger(service="timerack-bridge")

SWAGGER_PATH = "/swagger"


class Resolver(APIGatewayRestResolver):
    """The REST resolver, with Swagger UI and the OpenAPI document set up on the first request for them.

    `enable_swagger` imports Powertools' OpenAPI schema models (the costliest import of the API
    function); every other request, and so nearly every cold start, never needs them.
    """

    _swagger_enabled = False

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        if not self._swagger_enabled and event.get("path") == SWAGGER_PATH:
            self.enable_swagger(path=SWAGGER_PATH, title="Timerack Bridge", version=__version__)
            self._swagger_enabled = True
        return super().resolve(event, context)


app = Resolver(enable_validation=True)
for module in (admin, timecards, history, payroll_email, exports, imports):
    app.include_router(module.router)


@app.get("/v1/health")
def health() -> Health:
    return Health(version=__version__)


def error_response(status_code: int, message: str, **extra: object) -> Response:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, **extra}),
    )


@app.exception_handler(BridgeError)
def handle_bridge_error(error: BridgeError) -> Response:
    if error.status_code >= 500:
        logger.error("request failed", extra={"error": type(error).__name__})
    return error_response(error.status_code, error.message)


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response:
    # The default body echoes the input back; inputs can hold an SSN, so reply with locations only.
    details = [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))}
        for err in error.errors()
    ]
    return error_response(422, "the request is malformed", detail=details)


@app.exception_handler(ValidationError)
def handle_model_error(error: ValidationError) -> Response:
    details = [{"loc": list(err["loc"]), "msg": err["msg"], "type": err["type"]} for err in error.errors()]
    return error_response(422, "the request is malformed", detail=details)


@app.not_found
def handle_not_found(_: Exception) -> Response:
    return error_response(404, f"no route {app.current_event.http_method} {app.current_event.path}")
