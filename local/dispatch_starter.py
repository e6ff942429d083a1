"""The local stand-in for the API's async invoke of the export dispatcher (the `DispatchStarter` port).

`POST /v1/exports` of many clients records the run and hands it over; on AWS the dispatcher function
takes it (an async invoke). Here the API instance runs the dispatcher's same code (`continue_dispatch`)
in a background thread of its own process, on the instance's stores and export queue, and answers at
once, as on AWS. A dispatch that fails is logged (as Lambda logs a failed async invoke); the run is
marked dispatched with the clients it reached, never left queuing.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from timerack_bridge.domain.export_models import DispatchRequest

log = logging.getLogger("timerack_bridge.local")


class ThreadDispatchStarter:
    """Runs each handed-over run's dispatch in a daemon thread; `wait()` until none is running (tests, shutdown)."""

    def __init__(self, source: Any, queue: Any, runs: Any) -> None:
        self.source = source
        self.queue = queue
        self.runs = runs
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self, request: DispatchRequest) -> None:
        thread = threading.Thread(
            target=self._dispatch, args=(request,), name=f"export-dispatch-{request.run_id}", daemon=True
        )
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _dispatch(self, request: DispatchRequest) -> None:
        from timerack_bridge.logic.export_dispatch import continue_dispatch

        try:
            continue_dispatch(self.source, self.queue, self.runs, request)
        except Exception:
            log.exception("export run %s: its dispatch failed", request.run_id)

    def wait(self, timeout: float | None = None) -> bool:
        """True once every dispatch started so far has ended (False: `timeout` seconds passed first)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        return True
