"""Background work of the local runtime: the export on its schedule, the mailer fed from the stream."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.stream_poller import StreamPoller

if TYPE_CHECKING:
    from timerack_bridge.adapters.destinations import ExportDestination
    from timerack_bridge.adapters.dynamodb.admin import AdminStore

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


def start_workers(
    admin: AdminStore,
    destination: ExportDestination,
    export_interval: float,
    dynamodb: Any,
    mailer: MailerOutbox,
) -> list[Any]:
    """The export schedule (at start, then every TIMERACK_EXPORT_INTERVAL seconds) and the mailer."""
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.logic.export_run import run_export

    runs = ExportRunStore(admin.client, admin.table_name)

    def scheduled_export() -> None:
        run = run_export(admin, destination, runs=runs, trigger="local-schedule")
        for outcome in run.clients:
            log.info(
                "export %s: %s (%d employees, %d assignments, %d problems)",
                outcome.client_key,
                outcome.status,
                outcome.employees,
                outcome.assignments,
                len(outcome.problems),
            )

    return [Periodic("export", export_interval, scheduled_export).start(), _start_mailer(admin, dynamodb, mailer)]


@dataclass(frozen=True)
class MailerOutbox:
    """What the mailer sends with: the SES stand-in, the sender identity, where each email is also written."""

    ses_client: Any
    streams_client: Any
    sender: str
    email_dir: Path


def _start_mailer(admin: AdminStore, dynamodb: Any, mailer: MailerOutbox) -> StreamPoller:
    """The mailer fed from the table's stream, as the stream's event source mapping feeds it in AWS."""
    from timerack_bridge.mail_stream import process_stream_event

    def deliver(event: dict[str, Any]) -> dict[str, Any]:
        return process_stream_event(
            event,
            admin_store=admin,
            ses_client=mailer.ses_client,
            sender=mailer.sender,
            outbox_dir=mailer.email_dir,
        )

    poller = StreamPoller(dynamodb, mailer.streams_client, admin.table_name, deliver, interval=1.0)
    return poller.start()
