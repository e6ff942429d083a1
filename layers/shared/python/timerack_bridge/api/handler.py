"""Entry of the API function: the size limit first, then the resolver."""

from __future__ import annotations

import json
from typing import Any

from timerack_bridge.api import deps
from timerack_bridge.api.app import app


JSON_TYPES = ("application/json", "text/json", "application/problem+json")


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One API Gateway proxy event in, one proxy response out (Lambda and the local runtime alike)."""
    limit = deps.services().settings.max_body_bytes
    body = event.get("body") or ""
    size = len(body.encode("utf-8", errors="surrogatepass")) if isinstance(body, str) else len(body)
    if event.get("isBase64Encoded"):
        size = size * 3 // 4
    if size > limit:
        return {
            "statusCode": 413,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"message": f"the request body is {size} bytes; the limit is {limit} bytes (5 MB)"}),
        }
    headers = event.get("headers") or {}
    content_type = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    if body and content_type and content_type.split(";")[0].strip().lower() not in JSON_TYPES:
        return {
            "statusCode": 415,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"message": f"Content-Type {content_type[:80]} is not accepted; send application/json"}),
        }
    if body and not content_type:
        # A body without a Content-Type is read as JSON, the only kind this API takes.
        event = {**event, "headers": {**headers, "Content-Type": "application/json"}}
    return app.resolve(event, context)
