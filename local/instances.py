"""The API's instances: each a process with its own resolver, one request at a time, as Lambda runs them.

Powertools keeps the current request on the resolver's class, and a router on the last resolver that
included it, so two resolvers in one process would read each other's requests (and callers). A process
per instance keeps them apart as Lambda's instances are. Instances start on demand (a cold start),
up to the pool's size, and stay warm; a request waits for one when all are busy.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from local.config import LOG_FORMAT

if TYPE_CHECKING:
    from local.composition import Intake
    from timerack_bridge.adapters.export_queue import QueueUrls

log = logging.getLogger("timerack_bridge.local")

COLD_START_SECONDS = 120.0


class InstanceLost(RuntimeError):
    """The instance died (or never started): its request gets a 502, as API Gateway gives one."""


def _serve(connection: Connection, moto_url: str, queues: QueueUrls, intake: Intake | None) -> None:
    """An instance's life: its cold start, then one proxy event in and one response out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the runtime, and the runtime stops its instances
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    from local.composition import api_instance

    handle = api_instance(moto_url, queues, intake)
    connection.send("ready")
    while True:
        try:
            event = connection.recv()
        except (EOFError, OSError):
            return
        try:
            response = handle(event)
        except Exception:
            log.exception("the handler failed")
            response = None
        connection.send(response)


class ApiInstance:
    """One API process; `call` sends it a proxy event and waits for its response (None: the handler failed)."""

    def __init__(self, moto_url: str, queues: QueueUrls, intake: Intake | None = None) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh interpreter, as a Lambda instance
        self._connection, child = context.Pipe()
        arguments = (child, moto_url, queues, intake)
        self.process = context.Process(target=_serve, args=arguments, name="api-instance", daemon=True)
        self.process.start()
        child.close()
        try:
            if not self._connection.poll(COLD_START_SECONDS) or self._connection.recv() != "ready":
                raise InstanceLost("an API instance did not start")
        except (EOFError, OSError):
            self.close()
            raise InstanceLost("an API instance failed its cold start (see the log above)") from None

    def call(self, event: dict[str, Any]) -> dict[str, Any] | None:
        try:
            self._connection.send(event)
            response: dict[str, Any] | None = self._connection.recv()
            return response
        except (EOFError, OSError):
            raise InstanceLost("an API instance died while serving a request") from None

    def close(self) -> None:
        self._connection.close()  # the instance reads the end of its pipe and exits
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=5)


class InstancePool:
    """Up to `size` instances; each request goes to a warm idle one, else a new one, else waits for one."""

    def __init__(self, size: int, start: Callable[[], ApiInstance]) -> None:
        self.size = size
        self._start = start
        self._idle: queue.LifoQueue[ApiInstance] = queue.LifoQueue()  # the warmest first, as Lambda reuses
        self._all: set[ApiInstance] = set()
        self._starting = 0
        self._lock = threading.Lock()

    def call(self, event: dict[str, Any]) -> dict[str, Any] | None:
        instance = self._acquire()
        try:
            response = instance.call(event)
        except InstanceLost:
            self._discard(instance)
            raise
        self._idle.put(instance)
        return response

    def stop(self) -> None:
        with self._lock:
            instances, self._all = list(self._all), set()
        for instance in instances:
            instance.close()

    def _acquire(self) -> ApiInstance:
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            if self._reserve_slot():
                return self._cold_start()
            try:
                return self._idle.get(timeout=0.2)
            except queue.Empty:
                continue  # an instance may have died meanwhile, freeing a slot

    def _reserve_slot(self) -> bool:
        with self._lock:
            if len(self._all) + self._starting >= self.size:
                return False
            self._starting += 1
            return True

    def _cold_start(self) -> ApiInstance:
        try:
            instance = self._start()
        except BaseException:
            with self._lock:
                self._starting -= 1
            raise
        with self._lock:
            self._starting -= 1
            self._all.add(instance)
        return instance

    def _discard(self, instance: ApiInstance) -> None:
        with self._lock:
            self._all.discard(instance)
        instance.close()
