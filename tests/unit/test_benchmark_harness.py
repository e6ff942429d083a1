"""The benchmarks' own measuring pieces: what `make bench` reports is only as right as these."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from benchmarks.common import CallLog, Figure, attach_call_log, item_size, percentile, write_units
from timerack_bridge.adapters.dynamodb import tables


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake = {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "us-east-1"}
    for name, value in fake.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        tables.create_tables(dynamodb, "main", "idem")
        yield dynamodb


def test_the_call_log_counts_calls_writes_and_transactions_as_sent(client: Any) -> None:
    log = CallLog()
    attach_call_log(client, log)
    item = {"pk": {"S": "A#1"}, "sk": {"S": "UNIT"}, "n": {"N": "12345"}}
    client.put_item(TableName="main", Item=item)
    actions = [
        {"Put": {"TableName": "main", "Item": {"pk": {"S": "A#2"}, "sk": {"S": "UNIT"}}}},
        {"Delete": {"TableName": "main", "Key": {"pk": {"S": "A#1"}, "sk": {"S": "UNIT"}}}},
    ]
    client.transact_write_items(TransactItems=actions)
    client.batch_get_item(RequestItems={"main": {"Keys": [{"pk": {"S": "A#2"}, "sk": {"S": "UNIT"}}]}})
    assert dict(log.calls) == {"PutItem": 1, "TransactWriteItems": 1, "BatchGetItem": 1}
    assert log.transactions == [actions] and log.transact_sizes == [2]
    assert [(t, transactional) for t, _, transactional in log.writes] == [("main", False), ("main", True)]
    assert log.deletes == [("main", True)]
    # One plain write unit, then a transactional put and delete at 2 each; a strongly consistent read is 1
    assert log.wcu() == 1 + 2 + 2
    assert log.rcu == 1
    # Disabled, it sees nothing (the floors run with it off)
    log.enabled = False
    client.put_item(TableName="main", Item=item)
    assert log.calls["PutItem"] == 1


def test_item_sizes_follow_dynamodb_rules() -> None:
    # names + values: "pk" 2 + "A#1" 3, "sk" 2 + "UNIT" 4, "n" 1 + 12345 -> ceil(5/2)+1 = 4
    assert item_size({"pk": {"S": "A#1"}, "sk": {"S": "UNIT"}, "n": {"N": "12345"}}) == 16
    # a list: 3 bytes plus 1 per element; a map: 3 plus 1 and the name per entry
    assert item_size({"l": {"L": [{"S": "ab"}, {"BOOL": True}]}}) == 1 + 3 + (1 + 2) + (1 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + 1 + 1 + 1
    assert write_units(1024) == 1 and write_units(1025) == 2 and write_units(1025, transactional=True) == 4


def test_busy_time_counts_overlapping_calls_once() -> None:
    log = CallLog()
    # Two reads in flight together from 0 to 3 s, a write, then a read alone from 5 to 6 s
    log.spans.extend(
        [("BatchGetItem", 0.0, 2.0), ("BatchGetItem", 1.0, 3.0), ("PutItem", 3.0, 5.0), ("Query", 5.0, 6.0)]
    )
    assert log.busy_ms("BatchGetItem", "Query") == pytest.approx(4000)
    assert log.busy_ms("PutItem") == pytest.approx(2000)
    assert log.busy_ms("Scan") == 0


def test_a_figure_prefers_its_paired_ratio_and_says_whether_the_target_holds() -> None:
    paired = Figure("intake", "wall", 300.0, "ms", floor=100.0, target="<= 2x", holds=False, paired_ratio=2.5)
    assert paired.ratio == 2.5 and paired.row()[4:7] == ["2.50x", "<= 2x", "NO"]
    plain = Figure("export", "calls", 404, "count", floor=401)
    assert plain.row()[2:5] == ["404", "401", "1.01x"]
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 99) == 5.0 and percentile([5.0, 1.0, 3.0], 50) == 3.0


def test_the_stand_in_timerack_counts_every_client_and_any_sent_twice_at_once() -> None:
    import threading
    from types import SimpleNamespace

    from benchmarks.export import SlowTimerack

    timerack = SlowTimerack(seconds=0.05)
    both = threading.Barrier(2)

    def send(key: str) -> None:
        both.wait(timeout=5)
        timerack.send(SimpleNamespace(client_key=key))

    # Two different clients at once: no overlap; the same client twice at once: one
    for keys in (("A-1", "B-1"), ("C-1", "C-1")):
        threads = [threading.Thread(target=send, args=(key,)) for key in keys]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=5)
    assert timerack.sent == {"A-1": 1, "B-1": 1, "C-1": 2}
    assert timerack.overlaps == 1
