"""Entry of the API function: the size limit first, then the resolver."""

from __future__ import annotations

import json
from typing import Any

from timerack_bridge.api import deps
from timerack_bridge.api.app import app


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
    return app.resolve(event, context)
