"""Intake: a Timerack batch through the API handler in-process on moto, against BatchWriteItem of the same items.

Per batch size: DynamoDB calls by operation, write calls per assignment (unit writes, and the batch
record's two puts reported apart), read calls per assignment, estimated WCU/RCU per timecard, and
wall time of a first send (every unit created) and a re-send (every unit replaced), each against
the floor: the same final items written with BatchWriteItem (25 a call) on the same moto.

And (issue 18) the API process's CPU per timecard of a 5,000-timecard batch with moto in its own
process, against the replay floor: a bare boto3 client making exactly the same DynamoDB calls.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from typing import Any

from benchmarks.common import (
    MAIN_TABLE,
    READS,
    CallLog,
    Figure,
    MotoClock,
    Stopwatch,
    batch_write,
    median,
    moto_stand,
    repeats,
)
from benchmarks.data import batch_body, batch_event, seed_agency

SECTION = "intake"


def _final_items(writes: list[tuple[str, dict[str, Any], bool]]) -> list[dict[str, Any]]:
    """The items the run left in the main table (the last write of each key wins)."""
    final: dict[tuple[str, str], dict[str, Any]] = {}
    for table_name, item, _ in writes:
        if table_name == MAIN_TABLE and "pk" in item and len(item) > 2:
            final[(item["pk"]["S"], item["sk"]["S"])] = item
    return list(final.values())


def _kind(item: dict[str, Any]) -> str:
    sk = item.get("sk", {}).get("S", "")
    return {"UNIT": "unit header", "TC": "timecard", "VERSION": "version", "BATCH": "batch record"}.get(
        sk.split("#", 1)[0], "other"
    )


def _sizes(writes: list[tuple[str, dict[str, Any], bool]]) -> dict[str, tuple[int, float]]:
    """Item count and mean size (bytes, DynamoDB's accounting) by kind of item written."""
    from benchmarks.common import item_size

    by_kind: dict[str, list[int]] = {}
    for _, item, _ in writes:
        by_kind.setdefault(_kind(item), []).append(item_size(item))
    return {kind: (len(sizes), sum(sizes) / len(sizes)) for kind, sizes in by_kind.items()}


def _retarget(actions: list[dict[str, Any]], table_name: str) -> list[dict[str, Any]]:
    return [{kind: {**op, "TableName": table_name} for kind, op in action.items()} for action in actions]


def _floor_ms(
    stand: Any, items: list[dict[str, Any]], table_name: str, transactions: dict[str, list[list[dict[str, Any]]]]
) -> dict[str, dict[str, tuple[float, float]]]:
    """On fresh tables of the same definition, on the same moto: the floor and the stand-in's share.

    `floor`: the final items written with BatchWriteItem. `replay`: the product's own transactions,
    exactly as it sent them, one after another with none of the product's code: what its
    TransactWriteItems (up to 100 actions, whole units) cost on this stand-in before any of our work.
    """
    from timerack_bridge.adapters.dynamodb.tables import MAIN_TABLE as DEFINITION

    stand.log.enabled = False
    try:
        out: dict[str, dict[str, tuple[float, float]]] = {"floor": {}, "replay": {}}
        stand.client.create_table(**DEFINITION.create_table_kwargs(table_name))
        for phase in ("create", "replace"):  # the same items again: the floor of a re-send
            watch, cpu = Stopwatch(), time.process_time()
            batch_write(stand.client, table_name, items)
            out["floor"][phase] = (watch.ms, (time.process_time() - cpu) * 1000)
        stand.client.delete_table(TableName=table_name)
        stand.client.create_table(**DEFINITION.create_table_kwargs(table_name))
        for phase in ("create", "replace"):
            sent = [_retarget(actions, table_name) for actions in transactions[phase]]
            watch, cpu = Stopwatch(), time.process_time()
            for actions in sent:
                stand.client.transact_write_items(TransactItems=actions)
            out["replay"][phase] = (watch.ms, (time.process_time() - cpu) * 1000)
        stand.client.delete_table(TableName=table_name)
        return out
    finally:
        stand.log.enabled = True


def run_once(assignments: int, run: int, *, write_parallelism: int | None = None) -> dict[str, Any]:
    from timerack_bridge.api.app import build_app
    from timerack_bridge.api.handler import handle
    from timerack_bridge.logic.intake import deferred_full_collections

    app = build_app()
    timecards = assignments * 2
    with moto_stand(write_parallelism=write_parallelism) as stand:
        seed_agency(stand, clients=1, assignments_per_client=assignments, employees=False)
        body = batch_body(assignments)
        out: dict[str, Any] = {}
        for phase, expected in (("create", "created"), ("replace", "replaced")):
            event = batch_event(body)
            stand.log.reset()
            watch, cpu, moto = Stopwatch(), time.process_time(), MotoClock.ms
            with deferred_full_collections:  # as functions/api/handler.py's lambda_handler holds it
                response = handle(event, None, stand.services, app)
            elapsed, cpu_ms = watch.ms, (time.process_time() - cpu) * 1000
            client_cpu_ms = cpu_ms - (MotoClock.ms - moto)
            reply = json.loads(response["body"])
            if response["statusCode"] != 200 or reply["counts"][expected] != assignments:
                raise RuntimeError(f"intake {phase} of {timecards} failed: {response['statusCode']} {str(reply)[:300]}")
            log = stand.log
            batch_items = [w for w in log.writes if w[1].get("sk", {}).get("S") == "BATCH"]
            unit_writes = [w for w in log.writes if w[1].get("sk", {}).get("S") != "BATCH"]
            unit_log, batch_log = CallLog(writes=unit_writes, deletes=log.deletes), CallLog(writes=batch_items)
            unit_wcu = unit_log.wcu()
            batch_wcu = batch_log.wcu()
            items = _final_items(log.writes)
            out[phase] = {
                "ms": elapsed,
                "cpu_ms": cpu_ms,
                "client_cpu_ms": client_cpu_ms,
                "sizes": _sizes(log.writes),
                "in_calls_ms": sum(log.op_ms.values()),
                "read_ms": log.busy_ms(*READS),
                "calls": Counter(log.calls),
                "unit_write_calls": log.calls["TransactWriteItems"],
                "batch_write_calls": log.calls["PutItem"],
                "reads": log.count(*READS),
                "scans": log.calls["Scan"],
                "wcu_units": unit_wcu,
                "wcu_batch": batch_wcu,
                "rcu": log.rcu,
                "items": len(items),
                "actions": sum(log.transact_sizes),
                "transactions": list(log.transactions),
            }
        floors = _floor_ms(stand, items, f"bench-floor-{run}", {p: out[p].pop("transactions") for p in out})
        for phase in out:
            out[phase]["floor_ms"], out[phase]["floor_cpu_ms"] = floors["floor"][phase]
            out[phase]["replay_ms"], out[phase]["replay_cpu_ms"] = floors["replay"][phase]
        return out


# Paired runs per size (full, quick): a 5,000-timecard run takes about two minutes on moto.
RUNS = {1_000: (3, 1), 5_000: (1, 1)}
DIAGNOSTIC_SIZE = 1_000


def bench(sizes: tuple[int, ...] = (1_000, 5_000)) -> list[Figure]:
    figures: list[Figure] = []
    for timecards in sizes:
        assignments = timecards // 2
        runs = [run_once(assignments, n) for n in range(repeats(*RUNS.get(timecards, (1, 1))))]
        first = runs[0]["create"]
        tag = f"{timecards:,} tc"
        calls = ", ".join(f"{op} {n}" for op, n in sorted(first["calls"].items()))
        figures.append(
            Figure(SECTION, f"{tag}: DynamoDB calls (first send)", first["calls"].total(), "count", note=calls)
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: unit write calls / assignment",
                first["unit_write_calls"] / assignments,
                "",
                target="< 1",
                holds=first["unit_write_calls"] < assignments,
                note=(
                    f"{first['unit_write_calls']} TransactWriteItems of {first['actions'] / assignments:.0f} actions "
                    f"per unit, up to 100 actions each (a unit never split)"
                ),
            )
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: batch record writes / batch",
                first["batch_write_calls"],
                "count",
                note="PutItem 'processing' then 'completed' (Payroll History)",
            )
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: all write calls / assignment",
                (first["unit_write_calls"] + first["batch_write_calls"]) / assignments,
                "",
                note="unit writes plus the batch record's two puts",
            )
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: read calls / assignment",
                first["reads"] / assignments,
                "",
                target="<= 0.02",
                holds=first["reads"] / assignments <= 0.02,
                note=", ".join(f"{op} {first['calls'][op]}" for op in READS if first["calls"][op]),
            )
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: est. WCU / timecard",
                (first["wcu_units"] + first["wcu_batch"]) / timecards,
                "",
                note=(
                    f"units {first['wcu_units'] / timecards:.2f} (transactional 2x, incl. gsi1 copy of the header) "
                    f"+ batch record {first['wcu_batch'] / timecards:.3f}"
                ),
            )
        )
        figures.append(
            Figure(
                SECTION,
                f"{tag}: est. RCU / timecard",
                first["rcu"] / timecards,
                "",
                note="strongly consistent BatchGetItem + Queries",
            )
        )
        by_kind = "; ".join(f"{kind} {n} x {mean:.0f} B" for kind, (n, mean) in sorted(first["sizes"].items()))
        figures.append(
            Figure(
                SECTION,
                f"{tag}: items written (first send)",
                sum(n for n, _ in first["sizes"].values()),
                "count",
                note=by_kind,
            )
        )
        client_cpu = median([r["create"]["client_cpu_ms"] for r in runs])
        figures.append(
            Figure(
                SECTION,
                f"{tag}: client-side CPU / timecard",
                client_cpu / timecards,
                "ms",
                note=(
                    f"{client_cpu:.0f} ms for the batch: our code + botocore, moto's own CPU taken out "
                    "(what a Lambda would compute; DynamoDB latency comes on top)"
                ),
            )
        )
        for phase in ("create", "replace"):
            label = "first send" if phase == "create" else "re-send (replace)"
            inside = median([r[phase]["in_calls_ms"] / r[phase]["ms"] for r in runs])
            for clock, key, floor_key in (("wall", "ms", "floor_ms"), ("CPU", "cpu_ms", "floor_cpu_ms")):
                ratio = median([r[phase][key] / r[phase][floor_key] for r in runs])
                note = (
                    f"floor: BatchWriteItem of the same {runs[0][phase]['items']} items, run right after; "
                    f"ratio = median of {len(runs)} paired runs; {inside:.0%} of the wall time in DynamoDB calls"
                    if clock == "wall"
                    else "process CPU time of the same runs (less sensitive to machine load)"
                )
                figures.append(
                    Figure(
                        SECTION,
                        f"{tag}: {clock} time, {label}",
                        median([r[phase][key] for r in runs]),
                        "ms",
                        floor=median([r[phase][floor_key] for r in runs]),
                        target="<= 2x",
                        holds=ratio <= 2,
                        paired_ratio=ratio,
                        note=note,
                    )
                )
            # The stand-in's share: the product's own transactions replayed with none of its code.
            replay = median([r[phase]["replay_ms"] for r in runs])
            replay_ratio = median([r[phase]["replay_ms"] / r[phase]["floor_ms"] for r in runs])
            ours = median([(r[phase]["ms"] - r[phase]["replay_ms"]) / r[phase]["floor_ms"] for r in runs])
            reads = median([r[phase]["read_ms"] / r[phase]["floor_ms"] for r in runs])
            reads_ms = median([r[phase]["read_ms"] for r in runs])
            figures.append(
                Figure(
                    SECTION,
                    f"{tag}: its {runs[0][phase]['unit_write_calls']} transactions replayed, {label}",
                    replay,
                    "ms",
                    floor=median([r[phase]["floor_ms"] for r in runs]),
                    paired_ratio=replay_ratio,
                    note=(
                        "diagnostic: the same TransactWriteItems sent one after another, none of our code; "
                        f"the product adds {ours:.2f}x the floor on top: its reads on moto {reads:.2f}x "
                        f"({reads_ms:.0f} ms with a read in flight), the rest our code and botocore"
                    ),
                )
            )
        if timecards == DIAGNOSTIC_SIZE:
            # In-process moto runs one call at a time under the GIL: writer threads cannot overlap
            # anything and only contend. Shown to size that effect; the figures above use the default (8).
            single = run_once(assignments, 99, write_parallelism=1)["create"]
            ratio = single["ms"] / single["floor_ms"]
            figures.append(
                Figure(
                    SECTION,
                    f"{tag}: wall time, first send, 1 writer thread",
                    single["ms"],
                    "ms",
                    floor=single["floor_ms"],
                    paired_ratio=ratio,
                    note=(
                        f"diagnostic (write_parallelism=1, one run): client-side CPU "
                        f"{single['client_cpu_ms'] / timecards:.2f} ms / timecard"
                    ),
                )
            )
    # The issue-18 figure: the API process's CPU per timecard against the same calls replayed.
    figures.extend(cpu_figures(5_000, repeats(3, 1)))
    return figures


# ---------------------------------------------------------------- CPU against the replay (moto in its own process)


class _CallRecorder:
    """Every DynamoDB call a client makes, as (operation, parameters), in order (a botocore hook)."""

    def __init__(self, client: Any) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.enabled = False
        client.meta.events.register("before-parameter-build.dynamodb", self._seen)

    def _seen(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.enabled:
            self.calls.append((model.name, params))


def _fresh_agency(stand: Any, assignments: int) -> None:
    """The stand's tables dropped, made again and seeded: the same starting state every run."""
    from benchmarks.common import IDEMPOTENCY_TABLE
    from timerack_bridge.adapters.dynamodb import tables

    for name in (MAIN_TABLE, IDEMPOTENCY_TABLE):
        with contextlib.suppress(stand.client.exceptions.ResourceNotFoundException):
            stand.client.delete_table(TableName=name)
    tables.create_tables(stand.client, MAIN_TABLE, IDEMPOTENCY_TABLE)
    seed_agency(stand, clients=1, assignments_per_client=assignments, employees=False)


def _replay_cpu_ms(client: Any, calls: list[tuple[str, dict[str, Any]]]) -> float:
    """CPU of the same calls made one after another by a plain boto3 client (a refusal is a reply too)."""
    from botocore import xform_name
    from botocore.exceptions import ClientError

    methods = [(getattr(client, xform_name(op)), params) for op, params in calls]
    cpu = time.process_time()
    for method, params in methods:
        with contextlib.suppress(ClientError):
            method(**params)
    return (time.process_time() - cpu) * 1000


def _product_phase(stand: Any, recorder: _CallRecorder, app: Any, body: dict[str, Any], expected: str) -> float:
    """One send through the API handler; its process CPU (ms). moto runs in another process."""
    from timerack_bridge.api.handler import handle
    from timerack_bridge.logic.intake import deferred_full_collections

    recorder.calls.clear()
    recorder.enabled = True
    cpu = time.process_time()
    with deferred_full_collections:  # as functions/api/handler.py's lambda_handler holds it
        response = handle(batch_event(body), None, stand.services, app)
    cpu_ms = (time.process_time() - cpu) * 1000
    recorder.enabled = False
    reply = json.loads(response["body"])
    units = len({t["assignmentId"] for t in body["timecards"]})
    if response["statusCode"] != 200 or reply["counts"][expected] != units:
        raise RuntimeError(f"intake {expected} failed: {response['statusCode']} {str(reply)[:300]}")
    return cpu_ms


def cpu_against_replay(assignments: int, runs: int, *, freeze: bool = False) -> list[dict[str, Any]]:
    """Per run and phase: the API process's CPU for a batch, and a bare boto3 client's CPU making exactly
    the same DynamoDB calls one after another (the replay floor), each on its own moto server seeded the
    same way."""
    import gc

    from benchmarks.common import environment, moto_server, server_stand
    from timerack_bridge.api import deps
    from timerack_bridge.api.app import build_app

    app = build_app()
    body = batch_body(assignments)
    out: list[dict[str, Any]] = []
    with moto_server() as product_url, moto_server() as replay_url, server_stand(product_url) as stand:
        recorder = _CallRecorder(stand.client)
        with server_stand(replay_url) as replay_stand:
            # The floor's client is configured as the API's own (no client-side validation, its retries).
            with environment({"AWS_ENDPOINT_URL": replay_url}):
                plain = deps.dynamodb_client()
            for _ in range(runs):
                _fresh_agency(stand, assignments)
                _fresh_agency(replay_stand, assignments)
                if freeze:
                    gc.collect()
                    # As a handler could after its init (measured: no gain once a batch defers full collections)
                    gc.freeze()
                result: dict[str, Any] = {}
                for phase, expected in (("create", "created"), ("replace", "replaced")):
                    cpu_ms = _product_phase(stand, recorder, app, body, expected)
                    calls = list(recorder.calls)
                    result[phase] = {
                        "cpu_ms": cpu_ms,
                        "replay_cpu_ms": _replay_cpu_ms(plain, calls),
                        "calls": Counter(op for op, _ in calls),
                    }
                if freeze:
                    gc.unfreeze()
                out.append(result)
    return out


def cpu_figures(timecards: int, runs: int) -> list[Figure]:
    assignments = timecards // 2
    results = cpu_against_replay(assignments, runs)
    tag = f"{timecards:,} tc"
    figures: list[Figure] = []
    for phase, label in (("create", "first send"), ("replace", "re-send (replace)")):
        per_tc = median([r[phase]["cpu_ms"] / timecards for r in results])
        floor = median([r[phase]["replay_cpu_ms"] / timecards for r in results])
        ratio = median([r[phase]["cpu_ms"] / r[phase]["replay_cpu_ms"] for r in results])
        calls = results[0][phase]["calls"]
        figures.append(
            Figure(
                SECTION,
                f"{tag}: API-process CPU / timecard, {label}",
                per_tc,
                "ms/tc",
                floor=floor,
                target="<= 0.5 ms, <= 1.5x",
                holds=per_tc <= 0.5 and ratio <= 1.5,
                paired_ratio=ratio,
                note=(
                    f"moto in its own process; floor: a bare boto3 client (the API's config) replaying the same "
                    f"{calls.total()} calls one after another; median of {len(results)} paired runs"
                ),
            )
        )
    return figures
