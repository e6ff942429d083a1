"""Background work of the local runtime: the export on its schedule, the mailer fed from the stream."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("timerack_bridge.local")


class Periodic:
    """Runs a job at start and then every `interval` seconds, in a daemon thread, until stopped."""

    def __init__(self, name: str, interval: float, job: Callable[[], None]) -> None:
        self.interval = interval
        self.job = job
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Periodic:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.job()
            except Exception:
                log.exception("scheduled job %s failed", self._thread.name)
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def start_workers(runtime: Any, dynamodb: Any) -> list[Any]:
    """The export schedule (at start, then every TIMERACK_EXPORT_INTERVAL seconds) and the mailer."""
    from timerack_bridge.adapters.destinations import OutboxDestination, configured_destination, use_destination
    from timerack_bridge.logic.export_run import run_export

    use_destination(OutboxDestination(runtime.outbox_dir))

    def scheduled_export() -> None:
        run = run_export(runtime.services.admin, configured_destination())
        for outcome in run.clients:
            log.info(
                "export %s: %s (%d employees, %d assignments, %d problems)",
                outcome.client_key,
                outcome.status,
                outcome.employees,
                outcome.assignments,
                len(outcome.problems),
            )

    workers: list[Any] = [Periodic("export", runtime.config.export_interval, scheduled_export).start()]
    workers.extend(_start_mailer(runtime, dynamodb))
    return workers


def _start_mailer(runtime: Any, dynamodb: Any) -> list[Any]:
    """The mailer fed from the table's stream, as the stream's event source mapping feeds it in AWS."""
    from infra.local.runtime import MAIN_TABLE_NAME, SENDER_EMAIL
    from infra.local.stream_poller import StreamPoller
    from timerack_bridge.logic.error_file import process_stream_event

    def deliver(event: dict[str, Any]) -> dict[str, Any]:
        return process_stream_event(
            event,
            admin_store=runtime.services.admin,
            ses_client=runtime.sesv2,
            sender=SENDER_EMAIL,
            outbox_dir=runtime.email_dir,
        )

    poller = StreamPoller(dynamodb, runtime.client("dynamodbstreams"), MAIN_TABLE_NAME, deliver, interval=1.0)
    return [poller.start()]
