"""The export on moto: client by client, child customers, destinations, retries, the lock, the handler."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tests.conftest import cold_start, load_event
from timerack_bridge.adapters.destinations import (
    DestinationError,
    ExportDestination,
    HttpsDestination,
    OutboxDestination,
    S3Destination,
)
from timerack_bridge.adapters.dynamodb import tables
from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.adapters.dynamodb.export_lease import ExportLock
from timerack_bridge.domain.entities import Assignment, Customer, Employee
from timerack_bridge.domain.export_models import ExportPayload
from timerack_bridge.domain.pin import ssn_last_four
from timerack_bridge.exceptions import NotFoundError
from timerack_bridge.logic.export_run import run_export

TODAY = date(2026, 11, 16)
# Every PIN and SSN fragment of the seeded employees: none may appear in a log line.
SECRETS = ("72345", "126789", "904417", "111-11", "123-45", "6789")


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TABLE_NAME", "main")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables.create_tables(client, "main", "idem")
        yield client


@pytest.fixture
def store(dynamodb: Any) -> AdminStore:
    return AdminStore(dynamodb, "main")


def person(employee_id: int, birth: date | None, ssn: str | None, override: str | None = None) -> Employee:
    return Employee(
        employee_id=employee_id,
        first_name="Emp",
        last_name=str(employee_id),
        birth_date=birth,
        ssn_last4=ssn_last_four(ssn) if ssn else None,
        hierarchy_node_id="branch",
        pin_override=override,
    )


def place(store: AdminStore, assignment_id: int, employee_id: int, customer_id: int, **extra: Any) -> None:
    store.put_assignment(
        Assignment(
            assignment_id=assignment_id,
            employee_id=employee_id,
            customer_id=customer_id,
            hierarchy_node_id="branch",
            status=extra.pop("status", "Active"),
            start_date=extra.pop("start_date", date(2026, 1, 5)),
            job_title="Picker",
            **extra,
        )
    )


@pytest.fixture
def clients(store: AdminStore) -> list[str]:
    """Acme (with a child and a grandchild customer), Globex, Initech; each with employees of its own."""
    store.put_customer(Customer(customer_id=100, name="Acme", hierarchy_node_id="branch", timerack_client_key="ACME-1"))
    store.put_customer(
        Customer(customer_id=101, name="Acme Plant 2", parent_customer_id=100, hierarchy_node_id="branch")
    )
    store.put_customer(Customer(customer_id=102, name="Acme Dock", parent_customer_id=101, hierarchy_node_id="branch"))
    store.put_customer(
        Customer(customer_id=200, name="Globex", hierarchy_node_id="other", timerack_client_key="GLOBEX-1")
    )
    store.put_customer(
        Customer(customer_id=300, name="Initech", hierarchy_node_id="branch", timerack_client_key="INITECH-1")
    )
    store.put_customer(Customer(customer_id=900, name="No Timerack", hierarchy_node_id="branch"))
    for employee in (
        person(7, date(1990, 4, 7), "111-11-2345"),  # article: 72345
        person(9, date(1985, 12, 12), "123-45-6789"),  # article: 126789
        person(11, date(1991, 2, 3), "222-22-3333", override="904417"),
        person(12, None, None),  # no usable PIN
        person(20, date(1980, 5, 20), "333-33-4444"),
        person(30, date(1970, 8, 30), "444-44-5555"),
        person(40, date(1999, 9, 9), "555-55-6666"),
    ):
        store.put_employee(employee)
    place(store, 1001, 7, 100)
    place(store, 1002, 9, 101)  # child customer
    place(store, 1003, 11, 102)  # grandchild customer
    place(store, 1004, 12, 100)
    place(store, 1005, 7, 100, status="Cancelled")
    place(store, 1006, 9, 100, status="Deleted/Mistakenly Entered")
    place(store, 1007, 7, 100, end_date=date(2026, 11, 1))  # ended 15 days ago
    place(store, 1008, 9, 100, start_date=date(2026, 12, 1))  # starts in 15 days
    place(store, 2001, 20, 200)
    place(store, 3001, 30, 300)
    place(store, 9001, 40, 900)
    return ["ACME-1", "GLOBEX-1", "INITECH-1"]


@dataclass
class RecordingDestination(ExportDestination):
    name: str = "recording"
    sent: list[ExportPayload] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    def send(self, payload: ExportPayload) -> None:
        if payload.client_key in self.failing:
            raise DestinationError(f"Timerack refused the export of client {payload.client_key}: HTTP 400")
        self.sent.append(payload)


def test_every_client_is_exported_with_its_child_customers_and_window(store: AdminStore, clients: list[str]) -> None:
    destination = RecordingDestination()
    seen: list[str] = []
    # When the export runs
    run = run_export(store, destination, today=TODAY, progress=lambda outcome: seen.append(outcome.client_key))
    # Then each client is exported once, in order, and progress saw each as it finished
    assert [(c.client_key, c.status) for c in run.clients] == [(k, "exported") for k in clients]
    assert seen == clients
    acme = next(p for p in destination.sent if p.client_key == "ACME-1")
    assert [(a.assignment_id, a.customer_id) for a in acme.assignments] == [
        (1001, 100),
        (1002, 101),
        (1003, 102),
    ]
    assert {e.employee_id: e.pin for e in acme.employees} == {7: "72345", 9: "126789", 11: "904417"}
    assert [(p.type, p.employee_id) for p in acme.problems] == [("missing-pin", 12)]
    outcome = run.clients[0]
    assert (outcome.employees, outcome.assignments, len(outcome.problems)) == (3, 3, 1)
    # And the run's JSON names employees by id and never holds a PIN
    body = run.model_dump_json(by_alias=True)
    assert '"employeeId":12' in body and not any(secret in body for secret in SECRETS)


def test_one_client_by_key_and_an_unknown_key(store: AdminStore, clients: list[str]) -> None:
    destination = RecordingDestination()
    run = run_export(store, destination, client_key="INITECH-1", today=TODAY)
    assert [c.client_key for c in run.clients] == ["INITECH-1"]
    assert [a.assignment_id for a in destination.sent[0].assignments] == [3001]
    with pytest.raises(NotFoundError):
        run_export(store, destination, client_key="NOPE-1", today=TODAY)


def test_a_failing_client_does_not_stop_the_others(store: AdminStore, clients: list[str]) -> None:
    destination = RecordingDestination(failing={"GLOBEX-1"})
    run = run_export(store, destination, today=TODAY)
    assert [(c.client_key, c.status) for c in run.clients] == [
        ("ACME-1", "exported"),
        ("GLOBEX-1", "failed"),
        ("INITECH-1", "exported"),
    ]
    assert "HTTP 400" in (run.clients[1].error or "") and run.failures == 1
    # And the failed client's lock was released: the next run exports it
    destination.failing.clear()
    assert run_export(store, destination, client_key="GLOBEX-1", today=TODAY).clients[0].status == "exported"


def test_a_run_short_of_time_starts_no_client_it_cannot_finish(store: AdminStore, clients: list[str]) -> None:
    # Given a Lambda with time for one client only (the recording destination's worst case is 30s)
    remaining = [100.0]
    destination = RecordingDestination()
    original_send = destination.send

    def slow_send(payload: ExportPayload) -> None:
        original_send(payload)
        remaining[0] -= 70

    destination.send = slow_send  # type: ignore[method-assign]
    run = run_export(store, destination, today=TODAY, seconds_left=lambda: remaining[0])
    # Then the later clients are reported, not cut off mid-send, and the next run picks them up
    assert [(c.client_key, c.status) for c in run.clients] == [
        ("ACME-1", "exported"),
        ("GLOBEX-1", "failed"),
        ("INITECH-1", "failed"),
    ]
    assert "ran out of time" in (run.clients[1].error or "")
    # And the run's lease is given back: the next run does not wait for it to expire
    assert store.get("EXPORTLOCK", "RUN") is None


# ------------------------------------------------------------------ the lock


@contextmanager
def recorded_calls(dynamodb: Any) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB call the client makes inside the block: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    dynamodb.meta.events.register("before-call.dynamodb", record)
    try:
        yield calls
    finally:
        dynamodb.meta.events.unregister("before-call.dynamodb", record)


def test_a_second_run_of_every_client_skips_them_all_while_the_first_runs(
    store: AdminStore, clients: list[str]
) -> None:
    nested: list[Any] = []

    class ReentrantDestination(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            # While the first run is exporting ACME-1, a second one starts (another tick, the CLI)
            if payload.client_key == "ACME-1" and not nested:
                nested.append(run_export(store, RecordingDestination(), today=TODAY))
            super().send(payload)

    first = run_export(store, ReentrantDestination(), today=TODAY)
    assert [c.status for c in first.clients] == ["exported"] * 3
    # Then the second run sends nothing and says so for every client
    second = nested[0]
    assert [(c.client_key, c.status) for c in second.clients] == [
        ("ACME-1", "skipped-locked"),
        ("GLOBEX-1", "skipped-locked"),
        ("INITECH-1", "skipped-locked"),
    ]
    assert all("another run" in (c.error or "") for c in second.clients)
    # And after the first run nothing is held: the next run exports every client
    assert store.get("EXPORTLOCK", "RUN") is None
    assert [c.status for c in run_export(store, RecordingDestination(), today=TODAY).clients] == ["exported"] * 3


def test_one_client_export_and_a_run_of_every_client_never_send_the_same_client_together(
    store: AdminStore, clients: list[str]
) -> None:
    inner: dict[str, Any] = {}

    class WholeRunDuring(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            # While a manual export of ACME-1 is sending, the hourly run starts
            inner["whole"] = run_export(store, RecordingDestination(), today=TODAY)
            super().send(payload)

    manual = run_export(store, WholeRunDuring(), client_key="ACME-1", today=TODAY)
    assert manual.clients[0].status == "exported"
    # Then the whole run skips ACME-1 only
    assert [(c.client_key, c.status) for c in inner["whole"].clients] == [
        ("ACME-1", "skipped-locked"),
        ("GLOBEX-1", "exported"),
        ("INITECH-1", "exported"),
    ]

    class OneClientDuring(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            if payload.client_key == "GLOBEX-1":
                # While the hourly run is sending GLOBEX-1, a rep exports INITECH-1 by hand
                inner["manual"] = run_export(store, RecordingDestination(), client_key="INITECH-1", today=TODAY)
            super().send(payload)

    whole = run_export(store, OneClientDuring(), today=TODAY)
    assert [c.status for c in whole.clients] == ["exported"] * 3
    # Then the manual export is refused (the whole run will send INITECH-1 itself)
    assert inner["manual"].clients[0].status == "skipped-locked"
    assert store.get("EXPORTLOCK", "CUSTOMER#300") is None


def test_a_run_of_every_client_writes_its_lease_twice_however_many_clients(
    dynamodb: Any, store: AdminStore, clients: list[str]
) -> None:
    for n in range(4, 10):
        store.put_customer(
            Customer(customer_id=n * 100, name=f"C{n}", hierarchy_node_id="branch", timerack_client_key=f"C-{n}")
        )
    with recorded_calls(dynamodb) as calls:
        run = run_export(store, RecordingDestination(), today=TODAY)
    assert len(run.clients) == 9 and run.failures == 0
    # One Put to take the lease, one Query for clients exported by hand, one Delete to give it back
    assert sorted(name for name, params in calls if "EXPORTLOCK" in repr(params)) == ["DeleteItem", "PutItem", "Query"]


def test_a_long_run_renews_its_lease_and_stops_when_another_run_took_it(
    dynamodb: Any, store: AdminStore, clients: list[str]
) -> None:
    clock = [1_800_000_000.0]
    # A lease of 100 s; the recording destination's worst case (30 s) + the reserve (10 s) must fit
    lock = ExportLock(dynamodb, "main", lock_seconds=100, clock=lambda: clock[0])

    class SlowDestination(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            clock[0] += 70  # each client takes 70 s: the lease needs renewing before each next one
            super().send(payload)

    run = run_export(store, SlowDestination(), lock=lock, today=TODAY)
    assert [c.status for c in run.clients] == ["exported"] * 3
    assert store.get("EXPORTLOCK", "RUN") is None

    class StalledDestination(RecordingDestination):
        def send(self, payload: ExportPayload) -> None:
            # The run stalls past its lease; another run takes the lease over meanwhile
            clock[0] += 150
            assert lock.acquire_run() is not None
            super().send(payload)

    run = run_export(store, StalledDestination(), lock=lock, today=TODAY)
    # Then it starts no further client: the other run owns them now
    assert [(c.client_key, c.status) for c in run.clients] == [
        ("ACME-1", "exported"),
        ("GLOBEX-1", "failed"),
        ("INITECH-1", "failed"),
    ]
    assert "lost its export lease" in (run.clients[1].error or "")
    # And it does not delete the other run's lease
    assert store.get("EXPORTLOCK", "RUN") is not None


def test_a_client_costs_one_query_and_one_batch_get_and_its_child_customers_one_query_each(
    dynamodb: Any, store: AdminStore, clients: list[str]
) -> None:
    with recorded_calls(dynamodb) as recorded:
        run = run_export(store, RecordingDestination(), today=TODAY)
    calls = [name for name, _ in recorded]
    assert [c.status for c in run.clients] == ["exported"] * 3
    # The clients page; per client one Query of its partition (assignments and child customers together)
    # plus one per child customer (ACME-1 has a child and a grandchild), and one BatchGetItem of employees;
    # the run's lease: Put, Query of client leases, Delete
    assert calls.count("Query") == 1 + (3 + 2) + 1
    assert calls.count("BatchGetItem") == 3
    assert sorted(set(calls)) == ["BatchGetItem", "DeleteItem", "PutItem", "Query"]


def test_client_leases_expire_and_are_released_only_by_their_owner(
    dynamodb: Any, store: AdminStore, clients: list[str]
) -> None:
    clock = [1_800_000_000.0]
    lock = ExportLock(dynamodb, "main", lock_seconds=60, clock=lambda: clock[0])
    owner = lock.acquire(100)
    assert owner and lock.acquire(100) is None
    item = store.get("EXPORTLOCK", "CUSTOMER#100")
    assert item["expiresAt"] == 1_800_000_060 and item["owner"] == owner
    # A run while it is held skips the client
    assert (
        run_export(store, RecordingDestination(), lock=lock, client_key="ACME-1").clients[0].status == "skipped-locked"
    )
    # After the expiry another run takes it over; the first owner can no longer release it
    clock[0] += 61
    taker = lock.acquire(100)
    assert taker and taker != owner
    assert lock.release(100, owner) is False
    assert lock.release(100, taker) is True
    assert store.get("EXPORTLOCK", "CUSTOMER#100") is None
    # A whole run's lease, while live, refuses every client lease; expired, it refuses none
    lease = lock.acquire_run()
    assert lease is not None and lock.acquire(200) is None
    clock[0] += 61
    assert lock.acquire(200) is not None


# ------------------------------------------------------------------ HTTPS with retries


class FlakyTimerack:
    """A local stand-in for Timerack; `script[clientKey]` says how each successive request is answered."""

    def __init__(self, script: dict[str, list[str]], hang_seconds: float) -> None:
        self.script = script
        self.hang_seconds = hang_seconds
        self.requests: list[dict[str, Any]] = []
        self.closing = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("X-Timerack-Client-Key", "")
                outer.requests.append({"key": key, "auth": self.headers.get("Authorization"), "body": json.loads(body)})
                answers = outer.script.get(key, ["ok"])
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if answer == "hang":
                    outer.closing.wait(outer.hang_seconds)
                    return
                status = {"ok": 200, "500": 500, "400": 400, "429": 429, "302": 302}[answer]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                if status == 429:
                    self.send_header("Retry-After", "1")
                if status == 302:
                    self.send_header("Location", "/elsewhere")
                self.end_headers()
                self.wfile.write(b'{"ok": true}' if status == 200 else b'{"error": "no"}')

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tempworks/import"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyTimerack:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def attempts(self, key: str) -> int:
        return sum(1 for r in self.requests if r["key"] == key)


def test_https_retries_500_and_timeout_then_succeeds_and_isolates_failures(
    store: AdminStore, clients: list[str]
) -> None:
    # Given Timerack answers Acme 500, then times out, then OK; Globex always 500; Initech a 400
    script = {"ACME-1": ["500", "hang", "ok"], "GLOBEX-1": ["500"], "INITECH-1": ["400"]}
    delays: list[float] = []
    with FlakyTimerack(script, hang_seconds=2) as timerack:
        destination = HttpsDestination(
            timerack.url,
            lambda: "token-1",
            connect_timeout=1,
            read_timeout=0.2,
            max_attempts=3,
            backoff_base=0.01,
            backoff_max=0.05,
            sleep=lambda s: (delays.append(s), time.sleep(s)),
        )
        started = time.monotonic()
        run = run_export(store, destination, today=TODAY)
        elapsed = time.monotonic() - started
    # Then Acme got through on its third try, Globex failed after three, Initech after one (no retry on 4xx)
    outcomes = {c.client_key: c for c in run.clients}
    assert outcomes["ACME-1"].status == "exported" and timerack.attempts("ACME-1") == 3
    assert outcomes["GLOBEX-1"].status == "failed" and timerack.attempts("GLOBEX-1") == 3
    assert outcomes["GLOBEX-1"].error == (
        "Timerack did not accept the export of client GLOBEX-1 after 3 attempts (last: HTTP 500)"
    )
    assert outcomes["INITECH-1"].status == "failed" and timerack.attempts("INITECH-1") == 1
    assert "HTTP 400" in (outcomes["INITECH-1"].error or "")
    # And every request carried the client key header, the bearer token and the client's own payload
    assert all(r["auth"] == "Bearer token-1" and r["body"]["clientKey"] == r["key"] for r in timerack.requests)
    acme_body = next(r["body"] for r in timerack.requests if r["key"] == "ACME-1")
    assert {e["employeeId"]: e["pin"] for e in acme_body["employees"]} == {
        7: "72345",
        9: "126789",
        11: "904417",
    }
    # Backoff grew with the attempt, stayed within its cap, and the test stayed fast
    assert len(delays) == 4 and all(0.005 <= d <= 0.05 for d in delays)
    assert elapsed < 2


def _payload(client_key: str = "ACME-1") -> ExportPayload:
    return ExportPayload(
        client_key=client_key,
        customer_id=100,
        customer_name="Acme",
        generated_at="2026-11-16T14:00:00Z",
        employees=[],
        assignments=[],
        problems=[],
    )


def test_https_gives_up_after_read_timeouts_and_refused_connections() -> None:
    with FlakyTimerack({"ACME-1": ["hang"]}, hang_seconds=2) as timerack:
        hanging = HttpsDestination(timerack.url, "t", read_timeout=0.1, max_attempts=2, backoff_base=0.01)
        with pytest.raises(DestinationError, match=r"after 2 attempts \(last: TimeoutError\)"):
            hanging.send(_payload())
        assert timerack.attempts("ACME-1") == 2
    closed = HttpsDestination(timerack.url, "t", connect_timeout=0.5, max_attempts=2, backoff_base=0.01)
    with pytest.raises(DestinationError, match="ConnectionRefusedError"):
        closed.send(_payload())


def test_https_waits_as_retry_after_asks_up_to_its_cap_and_follows_no_redirect() -> None:
    # Given Timerack answers 429 with Retry-After: 1 (then OK), and another client a redirect
    delays: list[float] = []
    with FlakyTimerack({"ACME-1": ["429", "ok"], "GLOBEX-1": ["302"]}, hang_seconds=1) as timerack:
        destination = HttpsDestination(
            timerack.url, "t", max_attempts=3, backoff_base=0.01, backoff_max=0.05, sleep=delays.append
        )
        destination.send(_payload())
        # Then the 429 was retried after the Retry-After wait, capped at backoff_max
        assert timerack.attempts("ACME-1") == 2 and delays == [0.05]
        # And a redirect is refused at once: a POST is never silently re-sent elsewhere
        with pytest.raises(DestinationError, match="HTTP 302"):
            destination.send(_payload("GLOBEX-1"))
        assert timerack.attempts("GLOBEX-1") == 1 and delays == [0.05]


def test_https_refuses_plain_http_to_a_remote_host() -> None:
    from timerack_bridge.config import ConfigurationError, ExportSettings

    with pytest.raises(ValueError, match="https"):
        HttpsDestination("http://timerack.example.com/import", "t")
    HttpsDestination("https://timerack.example.com/import", "t")
    # ... and the function refuses it at its cold start, naming the variable
    environment = {"TABLE_NAME": "main", "EXPORT_DESTINATION": "https", "TIMERACK_API_TOKEN_SECRET_ARN": "arn:x"}
    with pytest.raises(ConfigurationError, match="TIMERACK_API_URL"):
        ExportSettings.from_env({**environment, "TIMERACK_API_URL": "http://timerack.example.com/import"})
    for accepted in ("https://timerack.example.com/import", "http://127.0.0.1:8080/import"):
        assert ExportSettings.from_env({**environment, "TIMERACK_API_URL": accepted}).timerack_api_url == accepted


# ------------------------------------------------------------------ S3 and the outbox


def test_s3_csv_per_client_on_moto(store: AdminStore, clients: list[str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="exports-bucket")
    run = run_export(store, S3Destination(s3, "exports-bucket"), today=TODAY)
    assert [c.status for c in run.clients] == ["exported"] * 3
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="exports-bucket")["Contents"])
    assert [k.split("/")[:2] for k in keys] == [
        ["exports", "ACME-1"],
        ["exports", "GLOBEX-1"],
        ["exports", "INITECH-1"],
    ]
    assert all(k.endswith(".csv") for k in keys)
    obj = s3.get_object(Bucket="exports-bucket", Key=keys[0])
    assert obj["ContentType"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(obj["Body"].read().decode())))
    assert [(r["Client ID"], r["Client Name"], r["Timerack Client Key"]) for r in rows] == [
        ("100", "Acme", "ACME-1")
    ] * 3
    assert [(r["Assignment ID"], r["Employee ID"], r["PIN"], r["Customer ID"]) for r in rows] == [
        ("1001", "7", "72345", "100"),
        ("1002", "9", "126789", "101"),
        ("1003", "11", "904417", "102"),
    ]


def test_s3_missing_bucket_is_that_clients_failure(store: AdminStore, clients: list[str]) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    run = run_export(store, S3Destination(s3, "no-such-bucket"), client_key="ACME-1", today=TODAY)
    assert run.clients[0].status == "failed" and "NoSuchBucket" in (run.clients[0].error or "")


def test_outbox_replaces_latest_json_atomically(store: AdminStore, clients: list[str], tmp_path: Path) -> None:
    destination = OutboxDestination(tmp_path / "outbox")
    run_export(store, destination, today=TODAY)
    run_export(store, destination, today=TODAY)
    acme = tmp_path / "outbox" / "ACME-1"
    assert [p.name for p in acme.iterdir()] == ["latest.json"]  # no temp file left behind
    document = json.loads((acme / "latest.json").read_text())
    assert document["clientKey"] == "ACME-1" and document["problems"][0]["employeeId"] == 12
    with pytest.raises(DestinationError):
        destination.path_for("..")


# ------------------------------------------------------------------ the handler


class FakeContext:
    function_name = "timerack-export"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    # Ids free of the seeded PINs' digits, so a hit in the logs is a real leak
    invoked_function_arn = "arn:aws:lambda:us-east-1:444455550000:function:timerack-export"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8aaaabbbb"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


@pytest.fixture
def export_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TABLE_NAME", "main")
    monkeypatch.setenv("EXPORT_DESTINATION", "outbox")
    monkeypatch.setenv("EXPORT_OUTBOX_DIR", str(tmp_path / "outbox"))


@pytest.fixture
def handler(dynamodb: Any, clients: list[str], tmp_path: Path, export_env: None) -> Callable[..., dict[str, Any]]:
    """The export function's handler, handed this test's store and destination (the outbox by default)."""
    from functions.export import handler as export_handler

    def invoke(event: dict[str, Any], destination: ExportDestination | None = None) -> dict[str, Any]:
        adapters = export_handler.ExportAdapters(
            AdminStore(dynamodb, "main"), destination or OutboxDestination(tmp_path / "outbox")
        )
        return export_handler.lambda_handler(event, FakeContext(), adapters=adapters)

    return invoke


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything the Powertools logger wrote, as it would reach CloudWatch."""
    caplog.set_level(logging.DEBUG, logger="timerack-bridge")
    handler = logging.getLogger("timerack-bridge").powertools_handler  # type: ignore[attr-defined]
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield (
        lambda: (
            buffer.getvalue()
            + "\n".join(
                handler.formatter.format(record)
                for record in caplog.records
                if record.name.startswith("timerack-bridge")
            )
        )
    )
    handler.setStream(previous)


def test_scheduled_event_drives_the_handler_with_metrics_and_pin_free_logs(
    handler: Callable[[dict[str, Any]], dict[str, Any]],
    log_lines: Callable[[], str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # When EventBridge's hourly event arrives
    result = handler(load_event("export-scheduled.json"))
    # Then every client is exported to the outbox and the run is the reply
    assert [(c["clientKey"], c["status"]) for c in result["clients"]] == [
        ("ACME-1", "exported"),
        ("GLOBEX-1", "exported"),
        ("INITECH-1", "exported"),
    ]
    acme = json.loads((tmp_path / "outbox" / "ACME-1" / "latest.json").read_text())
    assert {e["employeeId"]: e["pin"] for e in acme["employees"]} == {7: "72345", 9: "126789", 11: "904417"}
    # And the metrics were published as EMF in the configured namespace
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    metrics = emf[-1]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TimerackBridge"
    published = {name: metrics[name] for name in ("clients", "employees", "assignments", "problems", "failures")}
    assert published == {
        "clients": [3],
        "employees": [5],
        "assignments": [5],
        "problems": [1],
        "failures": [0],
    }
    # And the logs tell the story without a PIN or SSN digit
    logs = log_lines()
    assert "client exported" in logs and "export run finished" in logs and "ACME-1" in logs
    assert not any(secret in logs for secret in SECRETS), logs
    assert "72345" not in json.dumps(result)


def test_direct_invoke_exports_one_client(handler: Callable[[dict[str, Any]], dict[str, Any]], tmp_path: Path) -> None:
    result = handler(load_event("export-manual.json"))
    assert [c["clientKey"] for c in result["clients"]] == ["ACME-1"]
    assert [p.name for p in (tmp_path / "outbox").iterdir()] == ["ACME-1"]


def test_failures_are_logged_without_pins(
    handler: Callable[[dict[str, Any]], dict[str, Any]], log_lines: Callable[[], str]
) -> None:
    result = handler(load_event("export-scheduled.json"), RecordingDestination(failing={"ACME-1"}))
    assert [c["status"] for c in result["clients"]] == ["failed", "exported", "exported"]
    logs = log_lines()
    assert "client export failed" in logs
    assert [secret for secret in SECRETS if secret in logs] == [], logs


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_handler_fails_loudly_without_destination_configuration(
    export_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.config import ConfigurationError

    # The function's cold start (the import of its handler) fails, naming the variable
    monkeypatch.delenv("EXPORT_OUTBOX_DIR")
    with pytest.raises(ConfigurationError, match="EXPORT_OUTBOX_DIR"):
        cold_start("functions.export.handler")


# ------------------------------------------------------------------ POST /v1/exports


@pytest.fixture
def api_destination(agency: Any, services: Any) -> Iterator[RecordingDestination]:
    services.admin.put_customer(
        Customer(customer_id=400, name="Hidden", hierarchy_node_id="other", timerack_client_key="HIDDEN-1")
    )
    destination = RecordingDestination()
    services.destination = destination
    yield destination


def test_post_exports_runs_every_client_visible_to_the_rep(api: Any, api_destination: RecordingDestination) -> None:
    # When Timerack's "Update From TempWorks" posts with no client key (as the CLI does)
    reply = api("POST", "/v1/exports", {})
    # Then the clients at or below the rep's node are exported, the other branch's is not
    assert reply.status == 200, reply.text
    assert [(c["clientKey"], c["status"]) for c in reply.json["clients"]] == [
        ("ACME-1", "exported"),
        ("GLOBEX-1", "exported"),
    ]
    assert [p.client_key for p in api_destination.sent] == ["ACME-1", "GLOBEX-1"]
    # The standard agency's employees share one PIN: reported by id, never spelled out
    acme = reply.json["clients"][0]
    assert [(p["type"], p["employeeIds"]) for p in acme["problems"]] == [("pin-collision", [501, 502])]
    assert "72345" not in reply.text
    assert api("POST", "/v1/exports").status == 200  # no body at all is "every client" too


def test_post_exports_one_client_and_its_refusals(api: Any, api_destination: RecordingDestination) -> None:
    one = api("POST", "/v1/exports", {"clientKey": "GLOBEX-1"})
    assert one.status == 200 and [c["clientKey"] for c in one.json["clients"]] == ["GLOBEX-1"]
    assert api("POST", "/v1/exports", {"clientKey": "NOPE-1"}).status == 404
    # A client the rep cannot see answers like one that does not exist
    assert api("POST", "/v1/exports", {"clientKey": "HIDDEN-1"}).status == 404
    assert api("POST", "/v1/exports", {"clientKey": "ACME-1"}, principal="stranger").status == 403
    assert api("POST", "/v1/exports", {"clientKey": "ACME-1"}, principal=None).status == 401
    assert api("POST", "/v1/exports", {"clientKey": 5}).status == 422
    assert [p.client_key for p in api_destination.sent] == ["GLOBEX-1"]
