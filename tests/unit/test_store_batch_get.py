"""TableStore.batch_get: 100 keys a call, calls side by side when asked, unprocessed keys retried."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from timerack_bridge.adapters.dynamodb import base
from timerack_bridge.adapters.dynamodb.base import TableStore

TABLE = "main"


def keys_of(count: int) -> list[tuple[str, str]]:
    return [(f"ASSIGNMENT#{n}", "ASSIGNMENT") for n in range(1, count + 1)]


class FakeClient:
    """BatchGetItem over a dict, answering in reverse order, holding back the first `unprocessed` keys
    of each call's first attempt, and recording how many calls were in flight at once."""

    def __init__(self, items: list[tuple[str, str]], *, unprocessed: int = 0, meet: int = 0) -> None:
        self.items = {k: {"pk": {"S": k[0]}, "sk": {"S": k[1]}, "n": {"N": str(i)}} for i, k in enumerate(items)}
        self.unprocessed = unprocessed
        self.requests: list[list[tuple[str, str]]] = []
        self.threads: set[int] = set()
        self.in_flight = self.max_in_flight = 0
        self._lock = threading.Lock()
        # The first `meet` calls wait for each other: they can only all return if they run together.
        self._meeting = threading.Barrier(meet, timeout=10) if meet else None
        self._retried: set[tuple[str, str]] = set()

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, request)] = RequestItems.items()
        assert table == TABLE and request["ConsistentRead"] is True
        asked = [(k["pk"]["S"], k["sk"]["S"]) for k in request["Keys"]]
        assert 1 <= len(asked) <= 100
        with self._lock:
            call = len(self.requests)
            self.requests.append(asked)
            self.threads.add(threading.get_ident())
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self._meeting is not None and call < self._meeting.parties:
                self._meeting.wait()
            held = [k for k in asked[: self.unprocessed] if k not in self._retried]
            with self._lock:
                self._retried.update(held)
            answered = [self.items[k] for k in reversed(asked) if k in self.items and k not in held]
            reply: dict[str, Any] = {"Responses": {TABLE: answered}}
            if held:
                reply["UnprocessedKeys"] = {TABLE: {"Keys": [base.key(*k) for k in held], "ConsistentRead": True}}
            return reply
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base.time, "sleep", lambda seconds: None)


def test_chunks_of_a_read_with_workers_are_in_flight_together() -> None:
    keys = keys_of(450)
    client = FakeClient(keys, meet=3)
    found = TableStore(client, TABLE).batch_get(keys, workers=3)
    assert list(found) == keys
    assert sorted(len(r) for r in client.requests) == [50, 100, 100, 100, 100]
    assert client.max_in_flight == 3 and len(client.threads) == 3


def test_workers_bound_the_calls_in_flight() -> None:
    keys = keys_of(1_000)
    client = FakeClient(keys, meet=2)
    TableStore(client, TABLE).batch_get(keys, workers=2)
    assert len(client.requests) == 10 and client.max_in_flight == 2


def test_without_workers_the_calls_run_one_after_another_on_the_caller() -> None:
    keys = keys_of(250)
    client = FakeClient(keys)
    found = TableStore(client, TABLE).batch_get(keys)
    assert list(found) == keys
    assert client.requests == [keys[:100], keys[100:200], keys[200:]]
    assert client.max_in_flight == 1 and client.threads == {threading.get_ident()}


@pytest.mark.parametrize("workers", [1, 4])
def test_unprocessed_keys_are_asked_again_until_answered(workers: int) -> None:
    keys = keys_of(320)
    client = FakeClient(keys, unprocessed=30)
    found = TableStore(client, TABLE).batch_get(keys, workers=workers)
    assert list(found) == keys
    assert {k: v["n"] for k, v in found.items()} == {k: i for i, k in enumerate(keys)}
    # Four chunks (the last of 20 keys, all held back), each asked again for what was held back.
    assert sorted(len(r) for r in client.requests) == [20, 20, 30, 30, 30, 100, 100, 100]
    held_back = [keys[0:30], keys[100:130], keys[200:230], keys[300:320]]
    assert all(client.requests.count(held) == (2 if held == keys[300:320] else 1) for held in held_back)


@pytest.mark.parametrize("workers", [1, 8])
def test_the_result_follows_the_keys_whatever_order_dynamodb_answers_in(workers: int) -> None:
    keys = keys_of(300)
    wanted = keys[::-1] + keys[:50]  # repeated keys are asked once
    missing = ("ASSIGNMENT#999999", "ASSIGNMENT")
    client = FakeClient(keys)
    found = TableStore(client, TABLE).batch_get([*wanted[:120], missing, *wanted[120:]], workers=workers)
    assert list(found) == keys[::-1]
    assert sum(len(r) for r in client.requests) == 301
