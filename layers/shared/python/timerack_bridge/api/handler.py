"""Entry of the API function: the size limit first, then the resolver, with the services it is handed."""

from __future__ import annotations

import base64
import binascii
import json
import re
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from timerack_bridge.api.routes.common import SERVICES

if TYPE_CHECKING:
    from timerack_bridge.api.app import Resolver
    from timerack_bridge.api.deps import Services

JSON_TYPES = ("application/json", "text/json", "application/problem+json")
# Far deeper than any body of this API (a batch is five levels); the JSON parser itself would
# overflow the stack near a thousand levels, a 5xx instead of a 4xx.
MAX_JSON_DEPTH = 32
# No id, hour or amount needs more; Python refuses to read an integer of over 4,300 digits (a 5xx).
MAX_NUMBER_DIGITS = 100
# A string, or an unclosed one up to the end: every quote starts a match, so the scan stays linear.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_CHANGE = {"[": 1, "{": 1, "]": -1, "}": -1}
_LONG_NUMBER = re.compile(rf"[0-9]{{{MAX_NUMBER_DIGITS + 1},}}")
_TOP_LEVEL_ARRAY = re.compile(r"[ \t\r\n]*\[")


def _reply(status_code: int, message: str, **extra: object) -> dict[str, Any]:
    return {
        "statusCode": status_code,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": message, **extra}),
    }


def _malformed(message: str) -> dict[str, Any]:
    """A 422 shaped like the resolver's own, so a client reads every malformed request alike."""
    return _reply(422, message, detail=[{"loc": ["body"], "msg": message, "type": "json_invalid"}])


def body_text(event: dict[str, Any]) -> str | None:
    """The body as text; None when it is not UTF-8 (JSON must be)."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return body if isinstance(body, str) else None
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def unreadable_json(text: str) -> str | None:
    """Why the JSON parser would fail with a server error on this text (checked without parsing it); else None."""
    if _TOP_LEVEL_ARRAY.match(text):
        # No route takes an array, and Powertools would quietly validate its first element alone:
        # [batchA, batchB] would write A and drop B.
        return "the request body must be a JSON object, not an array"
    skeleton = _JSON_STRING.sub("", text)
    if _LONG_NUMBER.search(skeleton):
        return f"the request body holds a number of more than {MAX_NUMBER_DIGITS} digits"
    brackets = _NOT_BRACKET.sub("", skeleton)
    # The running depth, in C (map, accumulate, filter), stopping at the first level too deep.
    running = accumulate(map(_DEPTH_CHANGE.__getitem__, brackets))
    if next(filter(MAX_JSON_DEPTH.__lt__, running), None) is not None:
        return f"the request body is nested more than {MAX_JSON_DEPTH} levels deep"
    return None


def handle(event: dict[str, Any], context: Any, services: Services, app: Resolver) -> dict[str, Any]:
    """One API Gateway proxy event in, one proxy response out (Lambda, the local runtime and tests alike)."""
    limit = services.settings.max_body_bytes
    body = event.get("body") or ""
    size = len(body.encode("utf-8", errors="surrogatepass")) if isinstance(body, str) else len(body)
    if event.get("isBase64Encoded"):
        size = size * 3 // 4
    if size > limit:
        return _reply(413, f"the request body is {size} bytes; the limit is {limit} bytes ({limit / 2**20:g} MB)")
    headers = event.get("headers") or {}
    content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    if body and content_type and content_type.split(";")[0].strip().lower() not in JSON_TYPES:
        return _reply(415, f"Content-Type {content_type[:80]} is not accepted; send application/json")
    if body:
        text = body_text(event)
        if text is None:
            return _malformed("the request body is not UTF-8 text; JSON must be UTF-8")
        problem = unreadable_json(text)
        if problem:
            return _malformed(problem)
    if body and not content_type:
        # A body without a Content-Type is read as JSON, the only kind this API takes.
        event = {**event, "headers": {**headers, "Content-Type": "application/json"}}
    # Powertools clears the resolver's context after every request: the services go in with each one.
    app.append_context(**{SERVICES: services})
    return app.resolve(event, context)
