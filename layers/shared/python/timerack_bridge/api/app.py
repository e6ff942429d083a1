"""The one resolver: routers per route family, domain exceptions turned into HTTP replies."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from timerack_bridge import __version__
from timerack_bridge.api import swagger
from timerack_bridge.api.models.output import Health
from timerack_bridge.api.routes import (
    admin,
    exports,
    history,
    imports,
    payroll_email,
    proofing,
    timecards,
    uploads,
)
from timerack_bridge.exceptions import BridgeError

logger = Logger(child=True)  # under the function's logger (POWERTOOLS_SERVICE_NAME): its keys, its correlation id

SWAGGER_PATH = "/swagger"
# Replies any route but health may give, documented on every route of the served OpenAPI.
ERROR_REPLIES = {
    401: "No valid bearer token",
    403: "The caller may not do this (scope, security group or hierarchy)",
    404: "Not found",
    409: "Conflict (a unique key, an import for a Connect client, an Idempotency-Key in progress)",
    413: "Over a limit the message names: the body over 10 MB, the batch over 20,000 timecards (5,000 for a dry run)",
    415: "The body is not JSON",
}


class Resolver(APIGatewayRestResolver):
    """The REST resolver, with Swagger UI and the OpenAPI document set up on the first request for them.

    `enable_swagger` imports Powertools' OpenAPI schema models (the costliest import of the API
    function); every other request, and so nearly every cold start, never needs them.
    """

    _swagger_enabled = False

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        for module in ROUTERS:
            # Routers are module-level; point them at the resolver serving this request (its context).
            module.router.api_resolver = self
        if not self._swagger_enabled and event.get("path") == SWAGGER_PATH:
            from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Tag

            self.enable_swagger(
                path=SWAGGER_PATH,
                title="Timerack Bridge",
                version=__version__,
                security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
                security=[{"bearer": []}],
                tags=[Tag(name=name, description=description) for name, description in swagger.TAGS],
            )
            self._swagger_enabled = True
        return super().resolve(event, context)

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> Any:
        """The OpenAPI document, with the error replies every route shares and health open to all."""
        from aws_lambda_powertools.event_handler.openapi import models as oa

        schema = super().get_openapi_schema(*args, **kwargs)
        if schema.components is not None and schema.components.schemas is not None:
            schema.components.schemas["ErrorBody"] = oa.Schema(
                type="object", properties={"message": oa.Schema(type="string")}, required=["message"]
            )
        error_body = {
            "application/json": oa.MediaType(schema=oa.Reference(**{"$ref": "#/components/schemas/ErrorBody"}))
        }
        for path, item in (schema.paths or {}).items():
            for method in ("get", "put", "post", "delete", "patch"):
                operation = getattr(item, method, None)
                if operation is None:
                    continue
                if path == "/v1/health":
                    operation.security = []
                    continue
                for code, description in ERROR_REPLIES.items():
                    operation.responses.setdefault(code, oa.Response(description=description, content=error_body))
        return schema


def error_response(status_code: int, message: str, **extra: object) -> Response:
    return Response(
        status_code=status_code,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"message": message, **extra}),
    )


def handle_bridge_error(error: BridgeError) -> Response:
    if error.status_code >= 500:
        logger.error("request failed", extra={"error": type(error).__name__})
    return error_response(error.status_code, error.message)


# Where Powertools says a value came from; the rest of a location is the field's path.
_SOURCES = ("body", "query", "path", "header", "cookie")
_PYTHON_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*_?")
# pydantic's prefixes of a validator's own message ("Value error, a date is written YYYY-MM-DD").
_MESSAGE_PREFIX = re.compile(r"^(?:Value|Assertion) error, ")
MAX_ERRORS_IN_MESSAGE = 3


def json_name(part: str) -> str:
    """The name the user sent: a Python name (assignment_id, weekend_bill, in_) in camelCase."""
    if not _PYTHON_NAME.fullmatch(part):
        return part  # already the JSON name (an alias) or a header such as Idempotency-Key
    head, *rest = part.rstrip("_").split("_")
    return head + "".join(word.capitalize() for word in rest)


def field_of(loc: Sequence[Any]) -> str:
    """A location as the user wrote the field: timecards[2].days[0].date, weekendBill."""
    parts = list(loc)[1:] if loc and loc[0] in _SOURCES else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + json_name(str(part))
    return text or "body"


def message_of(error: Mapping[str, Any]) -> str:
    """pydantic's message, without the input: a value sent in the wrong field can be an SSN."""
    message = _MESSAGE_PREFIX.sub("", str(error.get("msg", "")))
    value = error.get("input")
    if isinstance(value, str) and value and (f"'{value}'" in message or f'"{value}"' in message):
        return "the value is not valid here"
    return message


def malformed(errors: Sequence[Mapping[str, Any]]) -> Response:
    """422 naming each bad field as sent (camelCase path) with its problem; never the value itself."""
    details = [
        {
            "field": field_of(err.get("loc", ())),
            "loc": [p if isinstance(p, int) else json_name(str(p)) for p in err.get("loc", ())],
            "msg": message_of(err),
            "type": str(err.get("type", "")),
        }
        for err in errors
    ]
    shown = [f"{d['field']}: {d['msg']}" for d in details[:MAX_ERRORS_IN_MESSAGE]]
    more = len(details) - len(shown)
    message = "; ".join(shown) + (f" (and {more} more)" if more > 0 else "") or "the request is malformed"
    return error_response(422, message, detail=details)


def handle_validation_error(error: RequestValidationError) -> Response:
    # The default body echoes the input back; inputs can hold an SSN, so reply with fields and messages only.
    return malformed(list(error.errors()))


def handle_model_error(error: ValidationError) -> Response:
    # A model built inside a route: its locations are Python names, shown as the JSON names.
    return malformed(error.errors(include_url=False, include_context=False))


ROUTERS = (admin, timecards, uploads, proofing, history, payroll_email, exports, imports)


def refuse_unknown_query(app: Any, next_middleware: Any) -> Response:
    """A query parameter the route does not read is a 422 naming it: a misspelt `nexttoken` or `clientkey` would
    otherwise be ignored without a word, and the caller would read the wrong page or every client."""
    route = app.context.get("_route")
    # Swagger UI's own route reads `format` itself (?format=json: the document).
    if route is not None and route.path != SWAGGER_PATH:
        known = {field.alias for field in route.dependant.query_params}
        unknown = sorted(set(app.current_event.resolved_query_string_parameters or {}) - known)
        if unknown:
            names = ", ".join(json.dumps(name[:40]) for name in unknown[:5])
            takes = ", ".join(sorted(known)) or "none"
            message = f"unknown query parameter {names}; this route takes: {takes}"
            return error_response(422, message, detail=[{"loc": ["query"], "msg": message, "type": "extra_forbidden"}])
    return next_middleware(app)


def health() -> Health:
    return Health(version=__version__)


def build_app() -> Resolver:
    """A fresh resolver with every router: one per Lambda instance (the composition root builds it once).

    Powertools binds each router to the last resolver that included it, and `Resolver.resolve` binds
    them back to itself; it keeps the current event on the class: one request at a time per process.
    """
    app = Resolver(enable_validation=True)
    app.use(middlewares=[refuse_unknown_query])
    for module in ROUTERS:
        app.include_router(module.router)
    app.get(
        "/v1/health",
        tags=[swagger.HEALTH],
        summary="Check that the API is up",
        description="Answers status ok and the version that runs. Open to anyone, no sign-in needed: for monitoring.",
    )(health)
    app.exception_handler(BridgeError)(handle_bridge_error)
    app.exception_handler(RequestValidationError)(handle_validation_error)
    app.exception_handler(ValidationError)(handle_model_error)

    @app.not_found
    def handle_not_found(_: Exception) -> Response:
        return error_response(404, f"no route {app.current_event.http_method} {app.current_event.path}")

    return app
