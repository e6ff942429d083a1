"""Export: every client's assignments and employees sent out, against paginated reads of the same items.

The run is `run_export` as the export function calls it, to the outbox destination (JSON files in a
temporary directory), on in-process moto. The floor reads the same items the cheapest way: the
clients index page by page, each client's assignments by its index partition page by page, and its
employees with BatchGetItem (employees are not queryable by client). Peak memory (tracemalloc) is
taken from one more run, against moto's server in its own process so that only what the export
function itself holds is traced, after the first 50, 100 and 200 clients (a quarter, half and all
of them in quick mode): the run holds one client's data at a time, so the peak should not grow.
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from benchmarks.common import (
    MAIN_TABLE,
    Figure,
    Stopwatch,
    median,
    moto_server,
    moto_stand,
    quick,
    repeats,
    server_stand,
)
from benchmarks.data import client_key, seed_agency

SECTION = "export"
TODAY_ISO = "2026-11-20"


def floor_reads(stand: Any) -> int:
    """Paginated Queries (and one BatchGetItem per client for its employees) of the items the export reads."""
    from timerack_bridge.adapters.dynamodb.base import key

    client, items = stand.client, 0

    def pages(**params: Any) -> Any:
        params = {"TableName": MAIN_TABLE, **params}
        while True:
            response = client.query(**params)
            yield response["Items"]
            if "LastEvaluatedKey" not in response:
                return
            params["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    for page in pages(
        IndexName="gsi1", KeyConditionExpression="gsi1pk = :pk", ExpressionAttributeValues={":pk": {"S": "CLIENTS"}}
    ):
        for customer in page:
            items += 1
            employee_ids: list[str] = []
            for assignments in pages(
                IndexName="gsi2",
                KeyConditionExpression="gsi2pk = :pk AND begins_with(gsi2sk, :assignment)",
                ExpressionAttributeValues={
                    ":pk": {"S": f"UNDER#{customer['customer_id']['N']}"},
                    ":assignment": {"S": "ASSIGNMENT#"},
                },
            ):
                items += len(assignments)
                employee_ids.extend(a["employee_id"]["N"] for a in assignments)
            for start in range(0, len(employee_ids), 100):
                keys = [key(f"EMPLOYEE#{e}", "EMPLOYEE") for e in employee_ids[start : start + 100]]
                pending: dict[str, Any] = {MAIN_TABLE: {"Keys": keys}}
                while pending:
                    response = client.batch_get_item(RequestItems=pending)
                    items += len(response["Responses"].get(MAIN_TABLE, []))
                    pending = response.get("UnprocessedKeys") or {}
    return items


def export_once(stand: Any, outbox: Path, *, clients: int | None = None, progress: Any = None) -> Any:
    from datetime import date

    from timerack_bridge.adapters.destinations import OutboxDestination
    from timerack_bridge.logic.export_run import run_export

    keep = None if clients is None else {client_key(n) for n in range(clients)}
    run = run_export(
        stand.services.admin,
        OutboxDestination(outbox),
        include=None if keep is None else (lambda customer: customer.timerack_client_key in keep),
        today=date.fromisoformat(TODAY_ISO),
        progress=progress,
    )
    failed = [c for c in run.clients if c.status != "exported"]
    if failed:
        raise RuntimeError(f"export failed for {len(failed)} clients: {failed[0]}")
    return run


def bench() -> list[Figure]:
    clients, per_client = (50, 100) if quick() else (200, 100)
    sizes = (clients // 4, clients // 2, clients)
    figures: list[Figure] = []
    with moto_stand() as stand, tempfile.TemporaryDirectory(prefix="timerack-export-") as outbox_dir:
        watch = Stopwatch()
        seed_agency(stand, clients=clients, assignments_per_client=per_client)
        seeded_s = watch.ms / 1000
        outbox = Path(outbox_dir)

        times, cpus, floors, floor_cpus = [], [], [], []
        run = None
        for _ in range(repeats(1, 1)):
            stand.log.reset()
            watch, cpu = Stopwatch(), time.process_time()
            run = export_once(stand, outbox)
            times.append(watch.ms)
            cpus.append((time.process_time() - cpu) * 1000)
            export_calls = dict(stand.log.calls)
            stand.log.reset()
            watch, cpu = Stopwatch(), time.process_time()
            read = floor_reads(stand)
            floors.append(watch.ms)
            floor_cpus.append((time.process_time() - cpu) * 1000)
            floor_calls = dict(stand.log.calls)
        assert run is not None
        exported = sum(c.assignments for c in run.clients)
        tag = f"{clients} clients x {per_client}"
        for clock, values, floor_values in (("wall", times, floors), ("CPU", cpus, floor_cpus)):
            ratio = median([v / f for v, f in zip(values, floor_values, strict=True)])
            note = (
                f"{exported} assignments sent; floor: paginated Queries + BatchGetItem of the same {read} items, "
                f"run right after; ratio = median of {len(values)} paired runs (seeding took {seeded_s:.0f} s)"
                if clock == "wall"
                else "process CPU time of the same runs (less sensitive to machine load)"
            )
            figures.append(
                Figure(
                    SECTION,
                    f"{tag}: {clock} time",
                    median(values),
                    "ms",
                    floor=median(floor_values),
                    target="<= 1.5x",
                    holds=ratio <= 1.5,
                    paired_ratio=ratio,
                    note=note,
                )
            )
        calls = ", ".join(f"{op} {n}" for op, n in sorted(export_calls.items()))
        figures.append(
            Figure(
                SECTION,
                f"{tag}: DynamoDB calls",
                sum(export_calls.values()),
                "count",
                floor=sum(floor_calls.values()),
                note=calls,
            )
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: Scans",
                export_calls.get("Scan", 0),
                "count",
                target="= 0",
                holds=export_calls.get("Scan", 0) == 0,
            )
        )

    # The memory figures come from a run against moto's server in its own process: the traced process
    # then holds what the export function would (its code, boto3, the data of the client at hand).
    # One traced run: the peak after the first N clients is the peak of a run of N clients. Per client,
    # the peak above what was held when it started is its working set; what is still held after it is
    # what the run keeps (the per-client outcome it returns).
    mib = 2**20
    client_peaks: list[float] = []  # the traced peak while each client was exported, in order
    held: list[float] = []  # what was still held after each client

    def progress(_: Any) -> None:
        current, peak = tracemalloc.get_traced_memory()
        client_peaks.append(peak)
        held.append(current)
        tracemalloc.reset_peak()

    with (
        moto_server() as endpoint,
        server_stand(endpoint) as remote,
        tempfile.TemporaryDirectory(prefix="timerack-export-") as outbox_dir,
    ):
        seed_agency(remote, clients=clients, assignments_per_client=per_client)
        remote.log.enabled = False  # the call log keeps every written item: not the export's memory
        tracemalloc.start()
        try:
            export_once(remote, Path(outbox_dir), progress=progress)
        finally:
            tracemalloc.stop()
    peaks = {size: max(client_peaks[:size]) / mib for size in sizes}
    working_set = median([peak - before for peak, before in zip(client_peaks[1:], held, strict=False)]) / mib
    first, last = sizes[0], sizes[-1]
    for size in sizes:
        figures.append(
            Figure(
                SECTION,
                f"peak memory, {size} clients",
                peaks[size],
                "MiB",
                floor=peaks[first],
                # Flat: exporting more clients adds less than one client's data to the peak (a run that
                # kept each client's data would add a working set per client).
                target="flat: +< 1 client's data",
                holds=peaks[size] - peaks[first] < working_set,
                note=(
                    f"tracemalloc peak of the export process (moto in its own); "
                    f"held after client {size}: {held[size - 1] / mib:.2f} MiB"
                ),
            )
        )
    figures.append(
        Figure(
            SECTION,
            "memory kept per client exported",
            (held[last - 1] - held[first - 1]) / (last - first) / 1024,
            "KiB",
            note=(
                f"growth of what the run holds from client {first} to {last}, mostly the per-client outcome "
                f"it returns; one client's data (peak above what was held before it) is {working_set:.2f} MiB, "
                f"released after it"
            ),
        )
    )
    return figures
