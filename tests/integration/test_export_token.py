"""A tenant whose Timerack token secret still holds the stack's placeholder sends nothing and says why."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from timerack_bridge.adapters.destinations import TOKEN_PLACEHOLDER, HttpsDestination
from timerack_bridge.domain.export_models import ExportPayload
from timerack_bridge.logic.ports import DestinationError


class CountingTimerack:
    """A loopback Timerack that answers 401 to anything, and counts what reached it."""

    def __init__(self) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests += 1
                self.send_response(401)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/import"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _payload() -> ExportPayload:
    return ExportPayload(
        client_key="ACME-1",
        customer_id=100,
        customer_name="Acme",
        generated_at=datetime(2026, 11, 27, tzinfo=UTC),
        employees=[],
        assignments=[],
        problems=[],
    )


@pytest.mark.parametrize("token", [TOKEN_PLACEHOLDER, f" {TOKEN_PLACEHOLDER}\n", "", "   "])
def test_the_placeholder_token_is_refused_before_anything_is_sent(token: str) -> None:
    timerack = CountingTimerack()
    try:
        destination = HttpsDestination(timerack.url, lambda: token, max_attempts=1)
        with pytest.raises(DestinationError, match="Timerack API token is not set") as refused:
            destination.send(_payload())
        assert timerack.requests == 0
        assert "ACME-1" in str(refused.value) and TOKEN_PLACEHOLDER not in str(refused.value)
    finally:
        timerack.close()


def test_a_real_token_is_sent() -> None:
    timerack = CountingTimerack()
    try:
        destination = HttpsDestination(timerack.url, lambda: "issued-by-timerack", max_attempts=1)
        with pytest.raises(DestinationError, match="HTTP 401"):
            destination.send(_payload())
        assert timerack.requests == 1
    finally:
        timerack.close()
