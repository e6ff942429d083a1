"""moto as the AWS stand-in, made safe for concurrent callers.

moto's backends are not thread-safe (a transaction deep-copies the tables while another request
may be writing them). Real DynamoDB makes each call atomic, so serializing calls keeps the same
meaning: concurrent senders still interleave between calls, exactly where races can happen.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server


class SerializedMotoServer:
    """moto's server on 127.0.0.1, one request at a time (each AWS call atomic, as in AWS)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            with lock:
                return list(app(environ, start_response))

        def serve() -> None:
            self._server = make_server("127.0.0.1", self.port, serialized, threaded=True,
                                       request_handler=MotoRequestHandler)
            self._ready.set()
            self._server.serve_forever()

        self._thread = threading.Thread(target=serve, name="moto", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=30)

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
        if self._thread:
            self._thread.join(timeout=10)


class SerializedClient:
    """A boto3 client whose calls run one at a time (for in-process moto in tests)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attr(*args, **kwargs)

        return call
