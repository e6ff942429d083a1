"""What every benchmark shares: figures and their floors, statistics, moto-backed services, call counting.

A figure is printed with its floor (the same work done the cheapest way on the same machine), the
ratio, and whether the issue-8 target holds. Nothing here asserts on time: the numbers are printed.
"""

from __future__ import annotations

import math
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAIN_TABLE = "bench-main"
IDEMPOTENCY_TABLE = "bench-idem"
REGION = "us-east-1"

# The environment a Lambda execution environment has (and the local fakes the tests use).
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "POWERTOOLS_METRICS_NAMESPACE": "TimerackBridge",
    "POWERTOOLS_SERVICE_NAME": "timerack-bridge",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "TABLE_NAME": MAIN_TABLE,
    "IDEMPOTENCY_TABLE_NAME": IDEMPOTENCY_TABLE,
}


def quick() -> bool:
    """Quick mode (BENCH_QUICK=1 or --quick): fewer repetitions and the smaller sizes only where noted."""
    return os.environ.get("BENCH_QUICK", "0") not in ("", "0", "false")


def repeats(full: int, fast: int) -> int:
    return fast if quick() else full


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 200 samples is the 198th smallest)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Figure:
    """One printed figure: value, its floor, the ratio, and whether the target holds."""

    section: str
    name: str
    value: float
    unit: str
    floor: float | None = None
    target: str = ""
    holds: bool | None = None
    note: str = ""
    # The median of per-run ratios (each run next to its own floor), when the runs were paired.
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        if self.paired_ratio is not None:
            return self.paired_ratio
        if self.floor in (None, 0):
            return None
        return self.value / self.floor  # type: ignore[operator]

    def row(self) -> list[str]:
        return [
            self.section,
            self.name,
            _fmt(self.value, self.unit),
            "" if self.floor is None else _fmt(self.floor, self.unit),
            "" if self.ratio is None else f"{self.ratio:.2f}x",
            self.target,
            {True: "yes", False: "NO", None: ""}[self.holds],
            self.note,
        ]


def _fmt(value: float, unit: str) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit in ("", "count"):
        return f"{value:g}" if isinstance(value, int) or float(value).is_integer() else f"{value:.3f}"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:.3g} {unit}"


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table (the same text goes to the terminal and docs/benchmarks.md)."""
    header = ["section", "figure", "value", "floor", "ratio", "target", "holds", "note"]
    rows = [header, ["---"] * len(header), *(f.row() for f in figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = []
    for r in rows:
        cells = [c.ljust(widths[i]) if r[0] != "---" else "-" * widths[i] for i, c in enumerate(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


# ------------------------------------------------------------------ DynamoDB item sizes and capacity


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's accounting (strings UTF-8, numbers ~digits/2+1)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        digits = Decimal(inner).normalize().as_tuple().digits
        return math.ceil(len(digits) / 2) + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in inner)
    if kind == "NS":
        return sum(attribute_size({"N": n}) for n in inner)
    if kind == "BS":
        return sum(len(b) for b in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_size(v) for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    """Bytes of an item (attribute names plus values), as DynamoDB bills it."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def write_units(size: int, *, transactional: bool = False) -> int:
    return math.ceil(max(size, 1) / 1024) * (2 if transactional else 1)


def read_units(size: int, *, consistent: bool, transactional: bool = False) -> float:
    units = math.ceil(max(size, 1) / 4096)
    return units * (2 if transactional else 1 if consistent else 0.5)


# ------------------------------------------------------------------ counting DynamoDB calls


@dataclass
class CallLog:
    """DynamoDB calls by operation, the items written, and estimated capacity (by a botocore hook)."""

    calls: Counter[str] = field(default_factory=Counter)
    writes: list[tuple[str, dict[str, Any], bool]] = field(default_factory=list)  # (table, item, transactional)
    deletes: list[tuple[str, bool]] = field(default_factory=list)  # (table, transactional)
    transact_sizes: list[int] = field(default_factory=list)  # actions per TransactWriteItems
    transactions: list[list[dict[str, Any]]] = field(default_factory=list)  # their TransactItems, as sent
    # Read replies, kept by reference and sized afterwards: the hook adds next to nothing to a timed call.
    read_replies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    op_ms: dict[str, float] = field(default_factory=dict)  # wall time inside each kind of call
    spans: list[tuple[str, float, float]] = field(default_factory=list)  # (operation, start, end) of each call
    enabled: bool = True

    def reset(self) -> None:
        self.calls.clear()
        self.writes.clear()
        self.deletes.clear()
        self.transact_sizes.clear()
        self.transactions.clear()
        self.read_replies.clear()
        self.spans.clear()
        self.op_ms.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def rcu(self) -> float:
        """Estimated read units of the replies seen (GetItem, BatchGetItem strongly consistent; Query not)."""
        units = 0.0
        for name, parsed in self.read_replies:
            if name == "GetItem" and "Item" in parsed:
                units += read_units(item_size(parsed["Item"]), consistent=True)
            elif name == "BatchGetItem":
                for items in parsed.get("Responses", {}).values():
                    units += sum(read_units(item_size(i), consistent=True) for i in items)
            elif name in ("Query", "Scan"):
                units += read_units(sum(item_size(i) for i in parsed.get("Items", [])), consistent=False)
        return units

    def busy_ms(self, *operations: str) -> float:
        """Wall time during which at least one call of these operations was in flight (overlaps once)."""
        busy, reach = 0.0, float("-inf")
        for _, start, end in sorted((s for s in self.spans if s[0] in operations), key=lambda s: s[1]):
            if end > reach:
                busy += end - max(start, reach)
                reach = end
        return busy * 1000

    def count(self, *operations: str) -> int:
        return sum(self.calls[o] for o in operations)

    def wcu(self, *, table: str | None = None, index_attribute: str = "gsi1pk") -> float:
        """Estimated WCUs of the writes seen: base table (2x in a transaction) plus gsi1/gsi2 copies."""
        units = 0.0
        for written_table, item, transactional in self.writes:
            if table is not None and written_table != table:
                continue
            size = item_size(item)
            units += write_units(size, transactional=transactional)
            for attr in ("gsi1pk", "gsi2pk"):
                if attr in item:
                    units += write_units(size)  # an ALL-projection index copies the whole item
        units += sum(2 if transactional else 1 for t, transactional in self.deletes if table in (None, t))
        return units


READS = ("GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")


def attach_call_log(client: Any, log: CallLog) -> None:
    """Count every DynamoDB call of a real boto3 client (register on the inner client of a wrapper)."""
    started = threading.local()

    def before_call(model: Any, **_: Any) -> None:
        if log.enabled:
            log.calls[model.name] += 1

    def before_build(model: Any, params: dict[str, Any], **_: Any) -> None:
        started.at = time.perf_counter()
        if not log.enabled:
            return
        name = model.name
        if name == "PutItem":
            log.writes.append((params["TableName"], params["Item"], False))
        elif name == "BatchWriteItem":
            for table_name, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        log.writes.append((table_name, request["PutRequest"]["Item"], False))
                    else:
                        log.deletes.append((table_name, False))
        elif name == "TransactWriteItems":
            log.transact_sizes.append(len(params["TransactItems"]))
            log.transactions.append(params["TransactItems"])  # botocore does not change its input
            for action in params["TransactItems"]:
                if "Put" in action:
                    log.writes.append((action["Put"]["TableName"], action["Put"]["Item"], True))
                elif "Delete" in action:
                    log.deletes.append((action["Delete"]["TableName"], True))
                elif "Update" in action:
                    log.writes.append((action["Update"]["TableName"], action["Update"]["Key"], True))
        elif name in ("DeleteItem",):
            log.deletes.append((params["TableName"], False))

    def after_call(model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if not log.enabled:
            return
        name = model.name
        end = time.perf_counter()
        start = getattr(started, "at", end)
        log.op_ms[name] = log.op_ms.get(name, 0.0) + (end - start) * 1000
        log.spans.append((name, start, end))
        if name in ("GetItem", "BatchGetItem", "Query", "Scan"):
            log.read_replies.append((name, parsed))

    client.meta.events.register("before-call.dynamodb", before_call)
    client.meta.events.register("before-parameter-build.dynamodb", before_build)
    client.meta.events.register("after-call.dynamodb", after_call)


# ------------------------------------------------------------------ moto-backed services


class _Forgetful(list):  # type: ignore[type-arg]
    def append(self, _: object) -> None:
        return None


def tame_moto() -> None:
    """Benchmark-only: take two costs out of moto that DynamoDB does not have.

    1. moto answers a Query by comparing (and, for an index, sorting) every item of the table:
       here a Query starts from its partition (the table's hash map, or an index partition map
       kept beside the table and dropped whenever a write touches an indexed item), so it costs
       what its partition holds. Key conditions, order and pagination stay moto's own.
       An update drops that map only when it moves the item to another index partition.
    2. moto keeps every model object it ever made (`instances_tracked`, for its dashboard),
       every copy of a Query's result included: memory would grow with each call.
    3. moto's SQS reads every attribute of a queue on each message sent (to learn whether a FIFO
       queue deduplicates by content), the approximate message counts included, each a pass over
       every message in the queue: queuing n messages cost n²/2 passes. A standard queue's send now
       skips them.
    All apply to the product and its floor alike.
    """
    from moto.core.base_backend import model_data
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    for model in model_data.get("dynamodb", {}).values():
        model.instances_tracked = _Forgetful()  # type: ignore[attr-defined]
    if getattr(Table, "_bench_fast_queries", False):
        return
    _tame_sqs_sends()

    def indexed(table: Any) -> list[str]:
        return [k["AttributeName"] for i in table.global_indexes or [] for k in i.schema if k["KeyType"] == "HASH"]

    def touches_index(table: Any, *items: Any) -> bool:
        names = indexed(table)
        return any(item is not None and any(n in item.attrs for n in names) for item in items)

    def partitions(table: Any) -> dict[tuple[str, str, Any], list[Any]]:
        cache = table.__dict__.get("_bench_partitions")
        if cache is None:
            cache = {}
            names = indexed(table)
            for group in table.items.values():
                for item in group.values() if table.range_key_attr else [group]:
                    for name in names:
                        value = item.attrs.get(name)
                        if value is not None and value.type in ("S", "B"):
                            cache.setdefault((name, value.type, value.value), []).append(item)
            table._bench_partitions = cache
        return cache

    original_query, original_put, original_delete = Table.query, Table.put_item, Table.delete_item
    original_update = DynamoDBBackend.update_item

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        conditions = kwargs.get("hash_key_conditions") or []
        if index_name and len(conditions) == 1 and conditions[0][1].type in ("S", "B"):
            name, value = conditions[0]
            found = list(partitions(self).get((name, value.type, value.value), []))
        elif not index_name and hash_key is not None:
            group = self.items.get(hash_key)
            found = [] if group is None else list(group.values()) if self.range_key_attr else [group]
        else:
            return original_query(self, hash_key, *args, **kwargs)
        self.all_items = lambda: found
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        hash_value = DynamoType(item_attrs[self.hash_key_attr]) if self.hash_key_attr in item_attrs else None
        range_value = DynamoType(item_attrs[self.range_key_attr]) if self.range_key_attr in item_attrs else None
        old = self.get_item(hash_value, range_value) if hash_value is not None else None
        item = original_put(self, item_attrs, *args, **kwargs)
        if touches_index(self, old, item):
            self.__dict__.pop("_bench_partitions", None)
        return item

    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        item = original_delete(self, hash_key, range_key)
        if touches_index(self, item):
            self.__dict__.pop("_bench_partitions", None)
        return item

    def index_keys(table: Any, key: dict[str, Any]) -> dict[str, Any]:
        """The item's index hash keys as they are now (an update changes the item in place)."""
        item = table.get_item(*self_keys(table, key))
        return {} if item is None else {n: item.attrs[n].value for n in indexed(table) if n in item.attrs}

    def self_keys(table: Any, key: dict[str, Any]) -> tuple[Any, Any]:
        hash_value = DynamoType(key[table.hash_key_attr])
        has_range = table.range_key_attr is not None and table.range_key_attr in key
        return hash_value, DynamoType(key[table.range_key_attr]) if has_range else None

    def update_item(self: Any, table_name: str, *args: Any, **kwargs: Any) -> Any:
        # Only an update that moves the item between index partitions drops them (a run's counters do not).
        table = self.get_table(table_name)
        key = kwargs.get("key", args[0] if args else None)
        before = index_keys(table, key)
        try:
            return original_update(self, table_name, *args, **kwargs)
        finally:
            if index_keys(table, key) != before:
                table.__dict__.pop("_bench_partitions", None)

    Table.query = query  # type: ignore[method-assign]
    Table.put_item = put_item  # type: ignore[method-assign]
    Table.delete_item = delete_item  # type: ignore[method-assign]
    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    Table._bench_fast_queries = True  # type: ignore[attr-defined]


def _tame_sqs_sends() -> None:
    """A message sent to a standard queue no longer computes the queue's every attribute (see tame_moto)."""
    from moto.sqs.models import Queue, SQSBackend

    stock_attributes: property = Queue.attributes  # type: ignore[assignment]
    stock_send = SQSBackend.send_message
    sending = threading.local()

    def attributes(self: Any) -> dict[str, Any]:
        if getattr(sending, "active", False) and not self.fifo_queue:
            return {}  # all send_message reads of a standard queue: no ContentBasedDeduplication
        return dict(stock_attributes.fget(self))  # type: ignore[misc]

    def send_message(self: Any, *args: Any, **kwargs: Any) -> Any:
        sending.active = True
        try:
            return stock_send(self, *args, **kwargs)
        finally:
            sending.active = False

    Queue.attributes = property(attributes)  # type: ignore[assignment, method-assign]
    SQSBackend.send_message = send_message  # type: ignore[method-assign]


@dataclass
class Stand:
    """Services on in-process moto, as the tests build them, with a call log on the real client."""

    services: Any
    client: Any  # the real boto3 client (the services hold it wrapped in SerializedClient)
    log: CallLog


# Export queue URLs for the stands whose figures queue nothing (the API's settings need them).
UNUSED_QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/bench-unused"


def bench_settings(**values: Any) -> Any:
    """The API's settings for a stand: its tables, and export queues no benchmark reads."""
    from timerack_bridge.config import ApiSettings

    return ApiSettings(
        table_name=MAIN_TABLE,
        idempotency_table_name=IDEMPOTENCY_TABLE,
        export_destination="outbox",
        export_queue_url=UNUSED_QUEUE_URL,
        export_priority_queue_url=UNUSED_QUEUE_URL,
        **values,
    )


@contextmanager
def moto_stand(*, write_parallelism: int | None = None) -> Iterator[Stand]:
    """Fresh moto tables and services made current for the API handler."""
    from moto import mock_aws

    from local.moto_stand_in import SerializedClient, install_fast_transactions
    from timerack_bridge.adapters.dynamodb import tables
    from timerack_bridge.api import deps

    with environment(FAKE_AWS_ENV), mock_aws():
        install_fast_transactions()
        tame_moto()
        time_moto()
        extra = {} if write_parallelism is None else {"write_parallelism": write_parallelism}
        settings = bench_settings(**extra)
        # The client the API function builds (its retry mode and pool), not a bare one.
        client = deps.dynamodb_client()
        log = CallLog()
        attach_call_log(client, log)
        serialized = SerializedClient(client)
        tables.create_tables(serialized, MAIN_TABLE, IDEMPOTENCY_TABLE)
        services = deps.Services(settings=settings, dynamodb=serialized)
        yield Stand(services=services, client=client, log=log)


class MotoClock:
    """CPU seconds moto itself spent answering requests (its thread time), to tell it from the client's."""

    ms = 0.0


def time_moto() -> None:
    from moto.core.botocore_stubber import BotocoreStubber

    if getattr(BotocoreStubber, "_bench_timed", False):
        return
    original = BotocoreStubber.process_request

    def process_request(self: Any, request: Any) -> Any:
        started = time.thread_time()
        try:
            return original(self, request)
        finally:
            MotoClock.ms += (time.thread_time() - started) * 1000

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    BotocoreStubber._bench_timed = True  # type: ignore[attr-defined]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_SERVER = (
    "import sys; from benchmarks.common import tame_moto; tame_moto(); "
    "from local.moto_stand_in import install_fast_transactions; install_fast_transactions(); "
    "from moto.server import main; main(sys.argv[1:])"
)


# The local runtime's stand-in (one AWS call at a time), for figures with concurrent callers: moto's
# backends are not thread-safe, and a run's counters are changed by every worker at once.
_SERIALIZED_SERVER = (
    "import sys, threading; from benchmarks.common import tame_moto; tame_moto(); "
    "from local.moto_stand_in import SerializedMotoServer, install_fast_transactions; install_fast_transactions(); "
    "SerializedMotoServer(int(sys.argv[-1])).start(); threading.Event().wait()"
)


@contextmanager
def moto_server(*, serialized: bool = False) -> Iterator[str]:
    """moto's server (`tame_moto`, the project's fast transactions) in its own process; yields its URL.

    For figures that must not count the stand-in's own work: first invocations of fresh processes,
    and the memory of the export (what a Lambda holds, without the database in the same process).
    `serialized`: the local runtime's server, one AWS call at a time (for concurrent callers).
    """
    import socket
    import subprocess
    import sys

    from local.runtime import free_port

    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    code = _SERIALIZED_SERVER if serialized else _SERVER
    server = subprocess.Popen(
        [sys.executable, "-c", code, "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(server)


def stop_process(process: Any, grace_seconds: float = 10) -> None:
    """Terminate a child process; kill it if it has not exited within the grace period."""
    import subprocess

    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def server_stand(endpoint: str) -> Iterator[Stand]:
    """Services on a moto server in another process, with the client the API function builds."""
    from timerack_bridge.adapters.dynamodb import tables
    from timerack_bridge.api import deps

    with environment({**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": endpoint}):
        services = deps.build_services(bench_settings())
        log = CallLog()
        attach_call_log(services.dynamodb, log)
        tables.create_tables(services.dynamodb, MAIN_TABLE, IDEMPOTENCY_TABLE)
        yield Stand(services=services, client=services.dynamodb, log=log)


def batch_write(client: Any, table_name: str, items: list[dict[str, Any]]) -> int:
    """Write items (attribute-value form) with BatchWriteItem, 25 a call; returns the number of calls."""
    calls = 0
    for start in range(0, len(items), 25):
        pending: dict[str, Any] = {table_name: [{"PutRequest": {"Item": i}} for i in items[start : start + 25]]}
        while pending:
            response = client.batch_write_item(RequestItems=pending)
            calls += 1
            pending = response.get("UnprocessedItems") or {}
    return calls


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    watch = Stopwatch()
    result = fn()
    return watch.ms, result
