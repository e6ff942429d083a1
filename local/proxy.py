"""HTTP request -> the API Gateway REST proxy event Lambda gets, and the proxy response back."""

from __future__ import annotations

import base64
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit


def build_proxy_event(
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | str | None = None,
    claims: dict[str, Any] | None = None,
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """The event API Gateway's `/{proxy+}` integration gives the function for this request."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    headers = dict(headers or {})
    is_base64 = False
    text: str | None
    if body is None or body == b"" or body == "":
        text = None
    elif isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode(), True
    else:
        text = body
    request_context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "stage": "local",
        "httpMethod": method,
        "path": parts.path,
        "resourcePath": "/{proxy+}",
        "identity": {"sourceIp": source_ip},
    }
    if claims is not None:
        # API Gateway's Cognito authorizer hands claims over as strings.
        request_context["authorizer"] = {"claims": {k: str(v) for k, v in claims.items()}}
    return {
        "resource": "/{proxy+}",
        "path": parts.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": {"proxy": parts.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": request_context,
        "body": text,
        "isBase64Encoded": is_base64,
    }


def response_parts(response: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes of a proxy response."""
    headers = {k: str(v) for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[name] = ", ".join(str(v) for v in values)
    body = response.get("body") or ""
    data = base64.b64decode(body) if response.get("isBase64Encoded") else str(body).encode("utf-8")
    return int(response.get("statusCode", 200)), headers, data
