"""Idempotency-Key for a batch of any size, and the batch's size limits (issue 18, item 3).

Under the key Powertools keeps only a small reply (the batch id and its counts): DynamoDB holds 400 KB an
item, and the full answer of a 5,000-timecard batch is over 500 KB. A replay rebuilds the answer from the
batch kept in Payroll History, the very JSON the first send answered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import CLIENT_KEY, Agency, ApiCall, batch, timecard

BATCHES = "/v1/timecard-batches"


def stored_replies(services: Any) -> list[dict[str, Any]]:
    """What the idempotency table keeps under each key: the reply Powertools replays."""
    items = services.dynamodb.scan(TableName=services.settings.idempotency_table_name)["Items"]
    return [json.loads(item["data"]["S"]) for item in items if "data" in item]


def history(api: ApiCall) -> list[dict[str, Any]]:
    reply = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}")
    assert reply.status == 200, reply.text
    return reply.json["items"]


def stored_hours(api: ApiCall, assignment_id: int) -> list[float]:
    reply = api("GET", f"/v1/timecards?assignmentId={assignment_id}&weekendBill=2026-11-22")
    assert reply.status == 200, reply.text
    return [card["totalHours"] for card in reply.json["items"]]


def test_a_keyed_batch_of_5000_timecards_is_answered_and_its_replay_is_the_same(
    api: ApiCall, services: Any, agency: Agency
) -> None:
    from tests.integration.test_intake_groups import add_assignments

    # Given 2,500 assignments of the client, and a batch of 5,000 timecards (two pay codes each)
    assignments = list(range(10_001, 12_501))
    add_assignments(services, assignments)
    body = batch(*[timecard(a, 501, code, hours) for a in assignments for code, hours in (("REG", 8.0), ("OT", 2.0))])
    # When it is sent with an Idempotency-Key, then sent again with the same key
    first = api("POST", BATCHES, body, headers={"Idempotency-Key": "big-1"})
    replay = api("POST", BATCHES, body, headers={"Idempotency-Key": "big-1"})
    # Then both are answered, the replay with the very same JSON (an answer of over 500 KB)
    assert first.status == 200, first.text[:300]
    assert first.json["counts"] == {"assignments": 2_500, "created": 2_500, "replaced": 0, "errors": 0}
    assert len(first.body) > 400 * 1024
    assert replay.status == 200, replay.text[:300]
    assert replay.body == first.body
    # And the batch was run once: one batch in Payroll History, every unit created (none replaced)
    assert [b["batchId"] for b in history(api)] == [first.json["batchId"]]
    # And the key keeps the batch id and its counts alone
    assert stored_replies(services) == [{"batchId": first.json["batchId"], "counts": first.json["counts"]}]


def test_the_replay_of_a_batch_with_errors_and_warnings_is_the_first_answer_to_the_byte(
    api: ApiCall, services: Any, agency: Agency
) -> None:
    # Given assignment 1001 sent earlier with REG and OT
    earlier = api("POST", BATCHES, batch(timecard(1001, 501, "REG"), timecard(1001, 501, "OT", 2.0)))
    assert earlier.status == 200, earlier.text
    # And a batch that replaces it without OT (a warning), stacks 26 hours on one day (a warning),
    # and carries a deleted assignment and an unknown one (errors)
    body = batch(
        timecard(1001, 501, "REG", 16.0),
        timecard(1002, 502, "REG", 16.0),
        timecard(1002, 502, "OT", 10.0),
        timecard(1003, 503),
        timecard(999, 501),
    )
    # When it is sent with a key, then sent again with that key
    first = api("POST", BATCHES, body, headers={"Idempotency-Key": "mixed-1"})
    replay = api("POST", BATCHES, body, headers={"Idempotency-Key": "mixed-1"})
    # Then the first answer has its errors and warnings
    assert first.status == 200, first.text
    results = {r["assignmentId"]: r for r in first.json["results"]}
    assert results[1001]["status"] == "replaced" and "pay code OT" in results[1001]["warnings"][0]
    assert results[1002]["status"] == "created" and "26 hours" in results[1002]["warnings"][0]
    assert results[1003]["status"] == "error" and results[999]["status"] == "error"
    assert first.json["counts"] == {"assignments": 4, "created": 1, "replaced": 1, "errors": 2}
    # And the replay is the same answer, byte for byte, with the same headers
    assert replay.status == 200
    assert replay.body == first.body
    assert replay.headers.get("Content-Type") == first.headers.get("Content-Type")
    # And only two batches were run (the earlier one and this one)
    assert len(history(api)) == 2
    # And the key keeps the batch id and its counts, none of the results
    assert {"batchId": first.json["batchId"], "counts": first.json["counts"]} in stored_replies(services)
    assert all(set(reply) == {"batchId", "counts"} for reply in stored_replies(services))


def test_another_body_with_the_same_key_stays_a_422_and_writes_nothing(api: ApiCall, agency: Agency) -> None:
    # Given a batch sent with a key
    first = api("POST", BATCHES, batch(timecard(1001, 501)), headers={"Idempotency-Key": "k-1"})
    assert first.status == 200, first.text
    # When another body is sent with that key
    other = api("POST", BATCHES, batch(timecard(1001, 501, hours=3)), headers={"Idempotency-Key": "k-1"})
    # Then it is refused, and nothing of it was written
    assert other.status == 422 and "Idempotency-Key" in other.json["message"]
    assert stored_hours(api, 1001) == [8.0]
    assert len(history(api)) == 1
    # And the first body with the key still replays the first answer
    again = api("POST", BATCHES, batch(timecard(1001, 501)), headers={"Idempotency-Key": "k-1"})
    assert again.status == 200 and again.body == first.body


def test_the_same_key_of_another_caller_is_another_send(
    api_for: Any, api: ApiCall, services: Any, agency: Agency
) -> None:
    from timerack_bridge.domain.entities import ServiceRep

    # Given a second Timerack rep in the group, and a batch the first sent with a key
    services.admin.put_rep(
        ServiceRep(rep_id="rep-2", name="Portal 2", principal="portal-2", current_hierarchy_node_id="branch")
    )
    group = services.admin.get_group("Timerack")
    services.admin.put_group(group.model_copy(update={"members": [*group.members, "rep-2"]}))
    body = batch(timecard(1001, 501))
    first = api("POST", BATCHES, body, headers={"Idempotency-Key": "shared"})
    # When the second sends the same body with the same key
    second = api("POST", BATCHES, body, headers={"Idempotency-Key": "shared"}, principal="portal-2")
    # Then it is its own batch, not a replay of the first one's
    assert first.status == 200 and second.status == 200, second.text
    assert second.json["batchId"] != first.json["batchId"]
    assert result_status(second.json, 1001) == "replaced"


def result_status(reply: dict[str, Any], assignment_id: int) -> str:
    return next(r["status"] for r in reply["results"] if r["assignmentId"] == assignment_id)


def test_a_batch_written_is_answered_though_its_key_could_not_be_saved(
    api: ApiCall, services: Any, agency: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the idempotency table refuses to save the reply once the batch is written
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the idempotency table is unavailable")

    monkeypatch.setattr(services.idempotency.persistence, "save_success", refuse)
    # When a batch is sent with a key
    reply = api("POST", BATCHES, batch(timecard(1001, 501)), headers={"Idempotency-Key": "k-lost"})
    # Then its units were written and the answer says so (a 5xx would have Timerack send it again)
    assert reply.status == 200, reply.text
    assert result_status(reply.json, 1001) == "created"
    assert stored_hours(api, 1001) == [8.0]


# ---------------------------------------------------------------- the size limits


def test_a_batch_of_5000_timecards_is_taken_and_one_more_is_a_413_without_the_intake(
    api: ApiCall, agency: Agency
) -> None:
    # Given the default limits, and no intake bucket or queue (no asynchronous intake)
    # When 5,000 timecards are checked (a dry run: one assignment, its pay code repeated) and 5,001 sent
    at_limit = api("POST", f"{BATCHES}?dryRun=true", batch(*[timecard(1001, 501)] * 5_000))
    over = api("POST", BATCHES, batch(*[timecard(1001, 501)] * 5_001))
    # Then the first is checked (its one assignment an error), the second refused, naming the limit
    assert at_limit.status == 200, at_limit.text[:300]
    assert at_limit.json["counts"]["errors"] == 1
    assert over.status == 413
    message = over.json["message"]
    assert "5000" in message and "5001" in message and "SYNC_BATCH_TIMECARDS" in message
    assert history(api) == []


def test_a_body_over_10_mb_is_a_413_naming_that_limit(api: ApiCall, agency: Agency) -> None:
    # Given a body of 9 MB and one just over 10 MB (API Gateway's limit)
    nine_mb = '{"clientKey": "' + "A" * (9 * 1024 * 1024) + '"}'
    over = '{"clientKey": "' + "A" * (10 * 1024 * 1024) + '"}'
    # When each is sent
    taken = api("POST", BATCHES, raw=nine_mb)
    refused = api("POST", BATCHES, raw=over)
    # Then the 9 MB body is read (and refused for its content), the other refused for its size, naming 10 MB
    assert taken.status == 422
    assert refused.status == 413
    message = refused.json["message"]
    assert "10485760" in message and "10 MB" in message
    assert history(api) == []


def test_the_limits_default_to_20000_timecards_5000_at_once_and_10_mb() -> None:
    from timerack_bridge.config import ApiSettings

    fields = ApiSettings.model_fields
    assert fields["max_batch_timecards"].default == 20_000
    assert fields["sync_batch_timecards"].default == 5_000
    assert fields["max_body_bytes"].default == 10 * 1024 * 1024
