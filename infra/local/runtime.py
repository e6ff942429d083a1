"""The local runtime: the whole product on one machine, on 127.0.0.1 only, with no AWS account.

moto's server stands in for AWS (DynamoDB with its stream, SES); the tables come from the same
definitions the CDK stack uses. HTTP requests become the API Gateway proxy events Lambda gets and
go to the same handler; the export runs on its schedule and the mailer is fed from the stream.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from infra.local.proxy import build_proxy_event, response_parts
from infra.local.tokens import TokenError, signing_key, verify_token
from timerack_bridge.adapters.dynamodb import tables
from timerack_bridge.api import deps
from timerack_bridge.config import Settings

log = logging.getLogger("timerack_bridge.local")

REGION = "us-east-1"
MAIN_TABLE_NAME = "timerack-local"
IDEMPOTENCY_TABLE_NAME = "timerack-local-idempotency"
SENDER_EMAIL = "timerack-bridge@agency.example"
PUBLIC_PATHS = ("/v1/health", "/swagger")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RuntimeConfig:
    port: int = 3000
    state_dir: Path = Path(".local")
    seed: bool = True
    export_interval: float = 3600.0
    moto_port: int = 0

    @classmethod
    def from_env(cls) -> RuntimeConfig:
        env = os.environ
        return cls(
            port=int(env.get("TIMERACK_PORT", "3000")),
            state_dir=Path(env.get("TIMERACK_STATE_DIR", ".local")),
            seed=env.get("TIMERACK_SEED", "1") != "0",
            export_interval=float(env.get("TIMERACK_EXPORT_INTERVAL", "3600")),
            moto_port=int(env.get("TIMERACK_MOTO_PORT", "0")),
        )


@dataclass
class LocalRuntime:
    config: RuntimeConfig
    services: deps.Services | None = None
    seeded: dict[str, object] = field(default_factory=dict)
    _threads: list[Any] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.server_address[1]}"

    @property
    def outbox_dir(self) -> Path:
        return self.config.state_dir / "timerack-outbox"

    @property
    def email_dir(self) -> Path:
        return self.config.state_dir / "email-outbox"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.moto_url,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's stand-in credentials
            config=Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=32),
        )

    def start(self) -> None:
        import warnings

        # No Lambda context here: Powertools idempotency cannot read the remaining time, by design.
        warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
        from infra.local.moto_stand_in import SerializedMotoServer, install_fast_transactions

        install_fast_transactions()

        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        self.email_dir.mkdir(parents=True, exist_ok=True)
        self.key = signing_key(self.config.state_dir)
        moto_port = self.config.moto_port or free_port()
        self.moto = SerializedMotoServer(moto_port)
        self.moto.start()
        self.moto_url = f"http://127.0.0.1:{moto_port}"

        dynamodb = self.client("dynamodb")
        tables.create_tables(dynamodb, MAIN_TABLE_NAME, IDEMPOTENCY_TABLE_NAME)
        settings = Settings(table_name=MAIN_TABLE_NAME, idempotency_table_name=IDEMPOTENCY_TABLE_NAME)
        self.services = deps.Services(settings=settings, dynamodb=dynamodb)
        deps.use(self.services)
        self.sesv2 = self.client("sesv2")
        self.sesv2.create_email_identity(EmailIdentity=SENDER_EMAIL)
        if self.config.seed:
            from infra.local.seed import seed_demo

            self.seeded = seed_demo(self.services)

        self._start_workers(dynamodb)
        # Lets `timerack-bridge export` reach this runtime's stand-in directly (for its progress bar).
        (self.config.state_dir / "runtime.json").write_text(
            json.dumps(
                {
                    "motoUrl": self.moto_url,
                    "tableName": MAIN_TABLE_NAME,
                    "outboxDir": str(self.outbox_dir.resolve()),
                }
            )
        )
        self.http = ThreadingHTTPServer(("127.0.0.1", self.config.port), _handler_for(self))
        self.http.daemon_threads = True
        thread = threading.Thread(target=self.http.serve_forever, name="http", daemon=True)
        thread.start()

    def _start_workers(self, dynamodb: Any) -> None:
        from infra.local.workers import start_workers

        self._threads.extend(start_workers(self, dynamodb))

    def stop(self) -> None:
        (self.config.state_dir / "runtime.json").unlink(missing_ok=True)
        for worker in self._threads:
            worker.stop()
        if hasattr(self, "http"):
            self.http.shutdown()
            self.http.server_close()
        if hasattr(self, "moto"):
            self.moto.stop()
        deps.use(None)

    # One request at a time through the resolver, as one Lambda instance would serve them:
    # Powertools keeps the current event on the resolver object.
    _lock = threading.Lock()

    def dispatch(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        from timerack_bridge.api.handler import handle

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
        with self._lock:
            response = handle(event, None)
        return response_parts(response)


def _handler_for(runtime: LocalRuntime) -> type[BaseHTTPRequestHandler]:
    max_body = runtime.services.settings.max_body_bytes if runtime.services else 5 * 1024 * 1024

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
                message = {"message": f"the request body is {length} bytes; the limit is {max_body} bytes (5 MB)"}
                # The 413 goes out at once (a client that only claims the length gets it too), then a
                # bounded amount is read and dropped so a client still sending sees it, not a broken pipe.
                self._reply(413, {"Content-Type": "application/json"}, json.dumps(message).encode())
                self._drop_body(min(length, 8 * max_body))
                return
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items()}
            try:
                status, out_headers, data = runtime.dispatch(self.command, self.path, headers, body)
            except Exception:
                log.exception("the handler failed")
                status, out_headers, data = 502, {"Content-Type": "application/json"}, b'{"message": "internal error"}'
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
