"""Background work of the local runtime: the export on its schedule and its queue workers, the intake worker
on its queue, the mailer fed from the stream."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.composition import LOCAL_DESTINATION, ExportStores, SqsHandler
from local.queue_workers import QueueWorkers
from local.stream_poller import StreamPoller

if TYPE_CHECKING:
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.adapters.dynamodb.payroll_history import ResultsReader
    from timerack_bridge.adapters.export_queue import QueueUrls

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


@dataclass(frozen=True)
class ExportWiring:
    """The export on the stand-in: the dispatcher's stores and queue, the worker's handler, and its queues."""

    stores: ExportStores
    worker: SqsHandler
    sqs_client: Any
    queues: QueueUrls
    concurrency: int


@dataclass(frozen=True)
class IntakeWiring:
    """The intake on the stand-in: the intake worker's handler and its queue."""

    worker: SqsHandler
    sqs_client: Any
    queue_url: str


def start_workers(
    export: ExportWiring, export_interval: float, admin: AdminStore, mailer: MailerOutbox, intake: IntakeWiring
) -> list[Any]:
    """The export schedule (at start, then every TIMERACK_EXPORT_INTERVAL seconds), the queue workers that
    export each queued client (TIMERACK_EXPORT_CONCURRENCY at once), the intake worker (one accepted batch
    at a time), and the mailer."""
    # One batch at a time: each is thousands of writes, and the stand-in serves one call at a time.
    intake_workers = QueueWorkers(intake.sqs_client, [intake.queue_url], intake.worker, concurrency=1, name="intake")
    workers = QueueWorkers(
        export.sqs_client,
        [export.queues.priority, export.queues.bulk],  # a saved change is not stuck behind an hourly run
        export.worker,
        concurrency=export.concurrency,
    ).start()
    schedule = Periodic("export", export_interval, lambda: scheduled_export(export.stores)).start()
    return [workers, intake_workers.start(), schedule, _start_mailer(admin, mailer)]


# The outcome of a client whose message was lost when the runtime stopped (the queues are not kept).
INTERRUPTED = "not exported: the local runtime stopped before this client's turn; the next run exports it"


def close_interrupted_runs(runs: ExportRunStore, newest: int = 50) -> int:
    """Runs the last session left open (the kept tables hold them, the queues went with the stand-in):
    each client still queued becomes failed with the reason, a run still queuing is marked dispatched,
    so every run shows finished. Only the `newest` runs are looked at. How many clients were closed."""
    closed = 0
    records, _ = runs.list_runs(limit=newest, next_token=None)
    for record in records:
        if record.summary().state == "finished":
            continue
        token: str | None = None
        while True:
            page, token = runs.run_outcomes(
                record.run_id, limit=200, next_token=token, include=lambda outcome: outcome.status == "queued"
            )
            for outcome in page:
                runs.settle(record.run_id, outcome.model_copy(update={"status": "failed", "error": INTERRUPTED}))
                closed += 1
            if not token:
                break
        if record.dispatched_at is None:
            runs.dispatched(record.run_id)
    return closed


def scheduled_export(stores: ExportStores) -> None:
    """The hourly rule's run, on the local schedule, as the dispatcher runs it: the lost exports swept
    first (clients still queued long after every retry could have run), then every client queued; the
    queue workers send them."""
    from datetime import timedelta

    from timerack_bridge.adapters.export_queue import MAX_RECEIVES, VISIBILITY_TIMEOUT_SECONDS
    from timerack_bridge.logic.export_dispatch import dispatch, settle_lost_exports
    from timerack_bridge.logic.export_worker import retry_window_seconds

    lost_after = timedelta(seconds=retry_window_seconds(MAX_RECEIVES, VISIBILITY_TIMEOUT_SECONDS))
    try:
        settle_lost_exports(stores.runs, lost_after=lost_after)
    except Exception:
        log.exception("the sweep of lost exports failed; the clients are queued all the same")
    # The dispatcher logs the run (its id and counts); the export worker logs each client.
    dispatch(stores.admin, stores.queue, stores.runs, trigger="local-schedule", destination=LOCAL_DESTINATION)


@dataclass(frozen=True)
class MailerOutbox:
    """What the mailer sends with: the SES stand-in, the sender identity, where each email is also written."""

    ses_client: Any
    streams_client: Any
    dynamodb_client: Any
    sender: str
    email_dir: Path
    # The intake bucket: where a batch too big for its Payroll History item keeps its results.
    results: ResultsReader


def _start_mailer(admin: AdminStore, mailer: MailerOutbox) -> StreamPoller:
    """The mailer fed from the table's stream, as the stream's event source mapping feeds it in AWS."""
    from timerack_bridge.mail_stream import process_stream_event

    def deliver(event: dict[str, Any]) -> dict[str, Any]:
        return process_stream_event(
            event,
            admin_store=admin,
            ses_client=mailer.ses_client,
            sender=mailer.sender,
            outbox_dir=mailer.email_dir,
            results_objects=mailer.results,
        )

    poller = StreamPoller(mailer.dynamodb_client, mailer.streams_client, admin.table_name, deliver, interval=1.0)
    return poller.start()
