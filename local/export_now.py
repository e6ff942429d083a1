"""`timerack-bridge export` next to a running local runtime: a run queued on its export queue, then
watched on its run record (queued → exported / failed) with a progress bar until it is finished.

The run takes the path the hourly rule takes in AWS: the dispatcher (in this process) puts each client
on the runtime's queue, and the runtime's queue workers export them into its outbox. The run record
is read every POLL_SECONDS; its counts move as each client is settled.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from local.composition import LOCAL_DESTINATION, ExportStores, stand_in_client
from local.config import LocalError, RuntimeInfo

if TYPE_CHECKING:
    from timerack_bridge.domain.export_models import ExportRunSummary, RunCounts

POLL_SECONDS = 0.5


def export_on_stand_in(running: RuntimeInfo, client_key: str | None) -> int:
    """Queue the run on the running runtime, show its progress until it is finished; 1 when a client failed."""
    from timerack_bridge.adapters.export_queue import QueueUrls
    from timerack_bridge.exceptions import NotFoundError
    from timerack_bridge.logic.export_dispatch import dispatch

    queues = QueueUrls(bulk=running.export_queue_url, priority=running.export_priority_queue_url)
    dynamodb, sqs = stand_in_client("dynamodb", running.moto_url), stand_in_client("sqs", running.moto_url)
    stores = ExportStores.on(dynamodb, sqs, queues, running.table_name)
    try:
        try:
            run = dispatch(
                stores.admin,
                stores.queue,
                stores.runs,
                trigger="local-cli",
                destination=LOCAL_DESTINATION,
                client_key=client_key,
            )
        except NotFoundError as exc:
            raise LocalError(str(exc)) from None
        print(f"Export run {run.run_id}: {_total(run.counts)} clients", file=sys.stderr, flush=True)
        summary = watch_run(lambda: _summary(stores.runs, run.run_id), ProgressBar())
        detail = {**summary.model_dump(mode="json", by_alias=True), "clients": _outcomes(stores.runs, run.run_id)}
    except (BotoCoreError, ClientError) as exc:
        raise LocalError(
            f"the local runtime's stand-in at {running.moto_url} does not answer ({exc}); is the runtime still running?"
        ) from None
    print(json.dumps(detail, indent=2))
    return 0 if summary.counts.failed == 0 else 1


def watch_run(
    read: Callable[[], ExportRunSummary],
    progress: Callable[[ExportRunSummary], None],
    *,
    pause: Callable[[float], None] = time.sleep,
) -> ExportRunSummary:
    """Read the run until it is finished, showing each reading; Ctrl-C stops watching, not the run."""
    try:
        while True:
            summary = read()
            progress(summary)
            if summary.state == "finished":
                print(file=sys.stderr)
                return summary
            pause(POLL_SECONDS)
    except KeyboardInterrupt:
        raise LocalError("stopped watching; the run goes on in the runtime (GET /v1/exports shows it)") from None


def _summary(runs: Any, run_id: str) -> ExportRunSummary:
    record = runs.get_run(run_id)
    if record is None:
        raise LocalError(f"the run {run_id} is not recorded; was the runtime restarted with --fresh?")
    summary: ExportRunSummary = record.summary()
    return summary


def _outcomes(runs: Any, run_id: str) -> list[dict[str, Any]]:
    """Every client's outcome of the run, page by page (never a PIN: outcomes hold none)."""
    outcomes: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page, token = runs.run_outcomes(run_id, limit=200, next_token=token)
        outcomes.extend(outcome.model_dump(mode="json", by_alias=True) for outcome in page)
        if not token:
            return outcomes


def _total(counts: RunCounts) -> int:
    return sum(int(value) for value in counts.model_dump().values())


class ProgressBar:
    """`[#####.....] 3/10 clients  exported 3, failed 0, queued 7` on stderr, rewritten in place.

    The run's clients are counted at each reading: while the dispatcher is still queuing them (a run of
    every client handed to it), the total grows."""

    def __init__(self, width: int = 30) -> None:
        self.width = width

    def __call__(self, summary: ExportRunSummary) -> None:
        counts = summary.counts
        total = _total(counts)
        done = total - counts.queued
        filled = self.width * done // max(total, 1)
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}]"
        skipped = counts.skipped_not_primary + counts.skipped_not_client + counts.skipped_locked
        line = (
            f"{bar} {done}/{total} clients  exported {counts.exported}, failed {counts.failed}, "
            f"queued {counts.queued}" + (f", skipped {skipped}" if skipped else "")
        )
        if summary.state == "queuing":
            line += " (still queuing)"
        print(f"\r{line}".ljust(100), end="", file=sys.stderr, flush=True)
