"""API Gateway in front of the API instances: the HTTP server, the bearer-token check, the proxy event.

The server takes many connections at once (a listen backlog of 128, a thread per connection); each
request then goes to an idle API instance, as API Gateway hands requests to Lambda's instances.
"""

from __future__ import annotations

import errno
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.config import LocalError
from local.instances import InstanceLost, InstancePool
from local.proxy import build_proxy_event, response_parts
from local.tokens import TokenError, verify_token

log = logging.getLogger("timerack_bridge.local")

PUBLIC_PATHS = ("/v1/health", "/swagger")
LISTEN_BACKLOG = 128
INTERNAL_ERROR = (502, {"Content-Type": "application/json"}, b'{"message": "internal error"}')
# Lambda's largest synchronous event: a body near it (the proxy event escapes it, ~17% more) never reaches
# the function on AWS, whatever API Gateway's 10 MB; here it is refused by name, as the upload route's reason.
LAMBDA_EVENT_BYTES = 6 * 1024 * 1024


class Gateway:
    """Checks the bearer token (the Cognito authorizer's part), then hands the proxy event to an instance."""

    def __init__(self, key: bytes, instances: InstancePool) -> None:
        self.key = key
        self.instances = instances

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        path = target.split("?", 1)[0]
        claims: dict[str, Any] | None = None
        if not path.startswith(PUBLIC_PATHS):
            authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            scheme, _, token = authorization.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token:
                    raise TokenError("a bearer token is required (Authorization: Bearer <token>)")
                claims = verify_token(self.key, token.strip())
            except TokenError as exc:
                return (
                    401,
                    {"Content-Type": "application/json", "WWW-Authenticate": "Bearer"},
                    json.dumps({"message": str(exc)}).encode(),
                )
        event = build_proxy_event(method, target, headers=headers, body=body, claims=claims)
        if body is not None and len(body) > LAMBDA_EVENT_BYTES // 2 and _event_bytes(event) > LAMBDA_EVENT_BYTES:
            message = (
                f"the request as a Lambda event is over {LAMBDA_EVENT_BYTES} bytes: send a body this large "
                "through POST /v1/timecard-batches/uploads"
            )
            return 413, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode()
        try:
            response = self.instances.call(event)
        except InstanceLost as exc:
            log.error("%s", exc)
            return INTERNAL_ERROR
        return INTERNAL_ERROR if response is None else response_parts(response)


class _Server(ThreadingHTTPServer):
    request_queue_size = LISTEN_BACKLOG  # the default of 5 reset a burst of callers' connections
    daemon_threads = True


def _event_bytes(event: dict[str, Any]) -> int:
    return len(json.dumps(event, separators=(",", ":")).encode())


def serve(gateway: Gateway, port: int, max_body: int) -> ThreadingHTTPServer:
    """The HTTP server on 127.0.0.1:port, serving in a daemon thread until `shutdown()`."""
    try:
        server = _Server(("127.0.0.1", port), _handler_for(gateway, max_body))
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise LocalError(f"port {port} is in use: stop what runs there, or set TIMERACK_PORT") from None
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def _handler_for(gateway: Gateway, max_body: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "TimerackBridgeLocal"
        protocol_version = "HTTP/1.1"
        # A client that stops sending mid-request never holds a thread for good (API Gateway: 29 s).
        timeout = 60

        def _serve(self) -> None:
            if self.headers.get("Transfer-Encoding"):
                # API Gateway's limit is checked on the length; an unsized body is refused, never read unbounded.
                self.close_connection = True
                self._reply(
                    411,
                    {"Content-Type": "application/json"},
                    b'{"message": "send the body with a Content-Length, not Transfer-Encoding"}',
                )
                return
            length_header = self.headers.get("Content-Length")
            try:
                length = int(length_header) if length_header else 0
                if length < 0:
                    raise ValueError(length_header)
            except ValueError:
                # A negative length would make rfile.read() wait for the client to hang up.
                self.close_connection = True
                self._reply(400, {"Content-Type": "application/json"}, b'{"message": "bad Content-Length"}')
                return
            if length > max_body:
                self.close_connection = True
                limit = f"{max_body} bytes ({max_body / 2**20:g} MB)"
                message = {"message": f"the request body is {length} bytes; the limit is {limit}"}
                # The 413 goes out at once (a client that only claims the length gets it too), then a
                # bounded amount is read and dropped so a client still sending sees it, not a broken pipe.
                self._reply(413, {"Content-Type": "application/json"}, json.dumps(message).encode())
                self._drop_body(min(length, 8 * max_body))
                return
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()}
            try:
                status, out_headers, data = gateway.dispatch(self.command, self.path, headers, body)
            except Exception:
                log.exception("the handler failed")
                status, out_headers, data = INTERNAL_ERROR
            self._reply(status, out_headers, data)

        def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":  # a HEAD reply has the headers of a GET and no body
                self.wfile.write(data)

        def _drop_body(self, remaining: int) -> None:
            self.wfile.flush()
            self.connection.settimeout(2)
            try:
                while remaining > 0:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        return
                    remaining -= len(chunk)
            except OSError:  # the client stopped sending (or hung up): nothing more to drop
                return

        def _refuse_method(self) -> None:
            # API Gateway serves neither; without this the base class answers 501, a server error.
            self.close_connection = True
            self._reply(
                405,
                {"Content-Type": "application/json", "Allow": "GET, POST, PUT, DELETE, PATCH"},
                json.dumps({"message": f"method {self.command} is not allowed"}).encode(),
            )

        # Every method API Gateway's ANY integration forwards goes to the handler, as in AWS.
        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve

        def __getattr__(self, name: str) -> Any:
            # Any other method (TRACE, CONNECT, QUERY, ...): the base class looks up do_<METHOD>.
            if name.startswith("do_"):
                return self._refuse_method
            raise AttributeError(name)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.command, self.path.split("?", 1)[0])

    return Handler
