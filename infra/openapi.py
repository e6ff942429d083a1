"""The OpenAPI document the API serves at /swagger?format=json, committed as docs/openapi.json.

`make openapi` writes it. The stack reads its routes from the committed file (infra/stack/routes.py),
and tests check that the file is what the API serves, so a route changed without `make openapi`
fails the suite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OPENAPI_DOCUMENT = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
SWAGGER_JSON = "/swagger?format=json"


def served_document() -> dict[str, Any]:
    """The document as the API's resolver answers GET /swagger?format=json (no AWS call is made)."""
    from local.proxy import build_proxy_event, response_parts
    from timerack_bridge.api.app import build_app

    status, _, body = response_parts(build_app().resolve(build_proxy_event("GET", SWAGGER_JSON), None))
    if status != 200:
        raise RuntimeError(f"GET {SWAGGER_JSON} answered {status}")
    document: dict[str, Any] = json.loads(body)
    return document


def as_text(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def committed_document(path: Path = OPENAPI_DOCUMENT) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def main() -> None:
    OPENAPI_DOCUMENT.write_text(as_text(served_document()), encoding="utf-8")
    print(f"wrote {OPENAPI_DOCUMENT}")


if __name__ == "__main__":
    main()
