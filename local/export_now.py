"""`timerack-bridge export` next to a running local runtime: the export run on its stand-in, with a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from local.composition import stand_in_client
from local.config import LocalError, RuntimeInfo

if TYPE_CHECKING:
    from timerack_bridge.domain.export_models import ClientOutcome


def export_on_stand_in(running: RuntimeInfo, client_key: str | None) -> int:
    """Run the export against the running runtime's tables into its outbox; 1 when a client failed."""
    from timerack_bridge.adapters.destinations import OutboxDestination
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.adapters.dynamodb.export_runs import ExportRunStore
    from timerack_bridge.logic.export_run import run_export

    dynamodb = stand_in_client("dynamodb", running.moto_url)
    store, runs = AdminStore(dynamodb, running.table_name), ExportRunStore(dynamodb, running.table_name)
    try:
        total = 1 if client_key else sum(1 for _ in store.iter_clients())
        progress = _ProgressBar(total)
        outbox = OutboxDestination(Path(running.outbox_dir))
        run = run_export(store, outbox, client_key=client_key, progress=progress, runs=runs, trigger="local-cli")
    except (BotoCoreError, ClientError) as exc:
        raise LocalError(
            f"the local runtime's stand-in at {running.moto_url} does not answer ({exc}); is the runtime still running?"
        ) from None
    print(file=sys.stderr)
    print(run.model_dump_json(by_alias=True, indent=2))
    return 0 if run.failures == 0 else 1


class _ProgressBar:
    """`[#####.....] 3/10 clients  ACME-1: exported` on stderr, rewritten in place."""

    def __init__(self, total: int, width: int = 30) -> None:
        self.total = max(total, 1)
        self.width = width
        self.done = 0

    def __call__(self, outcome: ClientOutcome) -> None:
        self.done += 1
        filled = self.width * self.done // self.total
        bar = f"[{'#' * filled}{'.' * (self.width - filled)}]"
        line = f"{bar} {self.done}/{self.total} clients  {outcome.client_key}: {outcome.status}"
        print(f"\r{line}".ljust(100), end="", file=sys.stderr, flush=True)
