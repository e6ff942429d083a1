"""A batch over SYNC_BATCH_TIMECARDS (issue 18, item 3): stored and answered 202, then written by the intake worker.

On moto: the body in S3, the batch's `processing` record in Payroll History, its id on the intake queue (SQS).
`Worker` receives the queue's messages and hands them to functions/intake_worker/handler.py as Lambda's event
source does. The worker's result is compared with the same batch sent synchronously into a twin of the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.conftest import CLIENT_KEY, WEEKEND_BILL, Agency, ApiCall, Reply, batch, cold_start, timecard
from tests.integration import test_timecard_import

# The manual import's fixture (tests/integration/test_timecard_import.py); pytest finds it by its name here.
manual_client = test_timecard_import.manual_client

BATCHES = "/v1/timecard-batches"
ADMIN = {"principal": "agency-admin", "admin": True}
SYNC = 10  # SYNC_BATCH_TIMECARDS in these tests


def mixed_batch() -> dict[str, Any]:
    """12 timecards: created, replaced (a pay code dropped), and errors of several kinds."""
    return batch(
        timecard(1001, 501, "REG"),
        timecard(1001, 501, "OT", 2.0),
        timecard(1002, 502, "REG"),
        timecard(1002, 502, "OT", 1.0),
        timecard(1002, 502, "DT", 1.0),
        timecard(1003, 503),
        timecard(1004, 504),
        timecard(1005, 501),
        timecard(1005, 501, "OT", 1.0),
        timecard(1006, 502),
        timecard(999, 501),
        timecard(999, 501, "OT", 1.0),
    )


class Worker:
    """The intake queue's event source: each received message handed to the worker's handler."""

    def __init__(self, handler: ModuleType, adapters: Any, sqs: Any, url: str) -> None:
        self.handler, self.adapters, self.sqs, self.url = handler, adapters, sqs, url

    def messages(self) -> list[dict[str, Any]]:
        got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        return got.get("Messages", [])

    def deliver(self, message: dict[str, Any], adapters: Any = None, *, receives: int = 1) -> dict[str, Any]:
        record = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": {"ApproximateReceiveCount": str(receives)},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:intake",
        }
        return dict(self.handler.handle_records({"Records": [record]}, adapters or self.adapters))

    def run(self) -> list[dict[str, Any]]:
        """Every message on the queue delivered once, then deleted (as the event source does on success)."""
        replies = []
        for message in self.messages():
            reply = self.deliver(message)
            replies.append(reply)
            if not reply["batchItemFailures"]:
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return replies


@pytest.fixture
def intake(services: Any, agency: Agency, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API's services with the intake bucket and queue, and SYNC_BATCH_TIMECARDS of 10."""
    from timerack_bridge.api import deps

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="intake")
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="intake")["QueueUrl"]
    monkeypatch.setenv("INTAKE_BUCKET", "intake")
    monkeypatch.setenv("INTAKE_QUEUE_URL", url)
    settings = services.settings.model_copy(
        update={
            "sync_batch_timecards": SYNC,
            "max_batch_timecards": 200,
            "intake_bucket": "intake",
            "intake_queue_url": url,
        }
    )
    yield deps.Services(settings=settings, dynamodb=services.dynamodb, export_queue=services.export_queue)


@pytest.fixture
def async_api(api_for: Callable[[Any], ApiCall], intake: Any) -> ApiCall:
    return api_for(intake)


@pytest.fixture
def worker(intake: Any) -> Worker:
    handler = cold_start("functions.intake_worker.handler")
    s3 = boto3.client("s3", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    adapters = handler.build_adapters(handler.settings, dynamodb=intake.dynamodb, s3=s3, sqs=sqs)
    return Worker(handler, adapters, sqs, intake.settings.intake_queue_url)


def twin_api(services: Any, api_for: Callable[[Any], ApiCall]) -> ApiCall:
    """An API on a copy of the store as it is now, answering every batch synchronously."""
    from timerack_bridge.adapters.dynamodb import tables
    from timerack_bridge.api import deps

    client = services.dynamodb
    tables.create_tables(client, "twin", "twin-idem")
    for page in client.get_paginator("scan").paginate(TableName=services.settings.table_name):
        for item in page["Items"]:
            client.put_item(TableName="twin", Item=item)
    update = {"table_name": "twin", "idempotency_table_name": "twin-idem", "sync_batch_timecards": 5_000}
    settings = services.settings.model_copy(update=update)
    return api_for(deps.Services(settings=settings, dynamodb=client))


def without_ids(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k not in ("batchId", "submittedAt")}


def stored_record(services: Any, batch_id: str) -> dict[str, Any]:
    item = services.dynamodb.get_item(TableName="main", Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}})
    return dict(item["Item"])


def bodies(services: Any) -> list[str]:
    s3 = boto3.client("s3", region_name="us-east-1")
    return [o["Key"] for o in s3.list_objects_v2(Bucket=services.settings.intake_bucket).get("Contents", [])]


def result_of(reply: dict[str, Any], assignment_id: int) -> dict[str, Any]:
    return next(r for r in reply["results"] if r["assignmentId"] == assignment_id)


def accept(api: ApiCall, body: dict[str, Any], **kwargs: Any) -> Reply:
    reply = api("POST", BATCHES, body, **kwargs)
    assert reply.status == 202, reply.text
    return reply


def history_of(api: ApiCall, batch_id: str) -> dict[str, Any]:
    reply = api("GET", f"/v1/payroll-history/{batch_id}", **ADMIN)
    assert reply.status == 200, reply.text
    return dict(reply.json)


def test_a_batch_over_the_sync_size_is_accepted_then_written_as_a_synchronous_send_would(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker, api_for: Callable[[Any], ApiCall]
) -> None:
    # Given 1001 sent earlier with REG and DT, and the error file on
    assert api("POST", BATCHES, batch(timecard(1001, 501), timecard(1001, 501, "DT", 1.0))).status == 200
    body = {"recipients": ["payroll@acme.example"], "receiveErrorFile": True}
    assert api("PUT", f"/v1/clients/{CLIENT_KEY}/payroll-email", body).status == 200
    twin = twin_api(intake, api_for)
    # When a batch of 12 timecards is sent
    reply = accept(async_api, mixed_batch())
    # Then it is accepted: 202, its id, where to find it, one body stored and one message queued
    accepted = reply.json
    batch_id = accepted["batchId"]
    assert accepted["status"] == "processing" and accepted["timecards"] == 12
    assert accepted["clientKey"] == CLIENT_KEY and accepted["customerId"] == 100
    assert accepted["location"] == f"/v1/payroll-history/{batch_id}"
    assert reply.headers["Location"] == accepted["location"]
    assert history_of(api, batch_id)["status"] == "processing"
    assert bodies(intake) == [f"intake/{batch_id}.json.gz"]
    assert len(worker.messages()) == 1
    # And its report is not ready yet: a 409 saying so, not an empty CSV
    early = api("GET", f"/v1/payroll-history/{batch_id}/report.csv")
    assert early.status == 409 and "still processing" in early.json["message"]
    # When the worker runs
    assert worker.run() == [{"batchItemFailures": []}]
    # Then the batch is completed with the results of the same batch sent synchronously
    done = history_of(api, batch_id)
    same = twin("POST", BATCHES, mixed_batch())
    assert same.status == 200, same.text
    assert done["status"] == "completed"
    assert without_ids(done) == without_ids(history_of(twin, same.json["batchId"]))
    assert without_ids(same.json).items() <= without_ids(done).items()
    assert done["counts"]["errors"] > 0 and result_of(done, 1001)["status"] == "replaced"
    # And the same report.csv, and the body is gone from the bucket
    csv = api("GET", f"/v1/payroll-history/{batch_id}/report.csv").text
    assert csv == twin("GET", f"/v1/payroll-history/{same.json['batchId']}/report.csv").text
    assert bodies(intake) == []
    # And the record carries the error-file setting of the send, so the mailer's stream filter takes it
    from timerack_bridge.adapters.dynamodb.stream_filter import ERROR_FILE_STREAM_FILTER, matches_pattern

    item = stored_record(intake, batch_id)
    assert item["errorFileRecipients"] == {"L": [{"S": "payroll@acme.example"}]}
    assert matches_pattern({"eventName": "MODIFY", "dynamodb": {"NewImage": item}}, ERROR_FILE_STREAM_FILTER)


def test_a_newer_synchronous_send_between_accept_and_worker_supersedes_that_unit(
    api: ApiCall, async_api: ApiCall, worker: Worker
) -> None:
    # Given a batch accepted, then a newer synchronous send of 1001 with 3 hours
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    assert api("POST", BATCHES, batch(timecard(1001, 501, hours=3.0))).status == 200
    # When the worker writes the accepted batch
    worker.run()
    # Then 1001 is superseded in it, and the newer timecards stay
    done = history_of(api, batch_id)
    assert result_of(done, 1001)["status"] == "error" and "newer" in result_of(done, 1001)["error"]
    assert result_of(done, 1002)["status"] == "created"
    cards = api("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22").json["items"]
    assert [c["totalHours"] for c in cards] == [3.0]


def test_a_week_locked_between_accept_and_worker_refuses_its_units(
    api: ApiCall, async_api: ApiCall, worker: Worker
) -> None:
    # Given 1001 sent, a batch accepted, then the week sent to payroll
    assert api("POST", BATCHES, batch(timecard(1001, 501))).status == 200
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    assert api("POST", "/v1/weeks/2026-11-22/send-to-payroll", {"hierarchyNodeId": "branch"}, **ADMIN).status == 200
    # When the worker runs
    worker.run()
    # Then 1001 is refused as already sent to payroll
    assert "already been sent to payroll" in (result_of(history_of(api, batch_id), 1001)["error"] or "")


def test_a_rep_removed_from_the_group_between_accept_and_worker_gets_the_hierarchy_error(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    from timerack_bridge.domain import errors

    # Given a batch accepted, then its rep removed from the Timerack group
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    group = intake.admin.get_group("Timerack")
    intake.admin.put_group(group.model_copy(update={"members": []}))
    # When the worker runs
    worker.run()
    # Then every unit carries the hierarchy error and nothing was written
    done = history_of(api, batch_id)
    assert done["status"] == "completed"
    assert {r["error"] for r in done["results"]} == {errors.HIERARCHY_LEVEL}
    assert api("GET", "/v1/timecards?assignmentId=1002&weekendBill=2026-11-22", **ADMIN).json["items"] == []


def test_a_duplicate_delivery_after_completion_changes_nothing(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    # Given an accepted batch the worker completed
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    message = worker.messages()[0]
    assert worker.deliver(message) == {"batchItemFailures": []}
    before = stored_record(intake, batch_id)
    # When its message is delivered again
    assert worker.deliver(message) == {"batchItemFailures": []}
    # Then the record is as it was (no unit was written again: no superseded)
    assert stored_record(intake, batch_id) == before
    assert result_of(history_of(api, batch_id), 1002)["status"] == "created"


def test_an_idempotency_key_above_the_sync_size_replays_the_202_before_and_after_the_worker(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    # Given a batch over the sync size sent with a key
    first = accept(async_api, mixed_batch(), headers={"Idempotency-Key": "big-1"})
    # When it is sent again with the key, before and after the worker ran
    before = async_api("POST", BATCHES, mixed_batch(), headers={"Idempotency-Key": "big-1"})
    worker.run()
    after = async_api("POST", BATCHES, mixed_batch(), headers={"Idempotency-Key": "big-1"})
    # Then both replays are the first 202, byte for byte, with its Location
    for replay in (before, after):
        assert replay.status == 202 and replay.body == first.body
        assert replay.headers["Location"] == first.headers["Location"]
    # And another body with the key is a 422
    other = mixed_batch()
    other["timecards"][0]["days"][0]["hours"] = 7.0
    assert async_api("POST", BATCHES, other, headers={"Idempotency-Key": "big-1"}).status == 422
    # And the batch was accepted once: one record, one message (already consumed), nothing queued since
    listed = api("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}").json["items"]
    assert [b["batchId"] for b in listed] == [first.json["batchId"]]
    assert worker.messages() == []


def test_the_limits_above_the_sync_size(api_for: Callable[[Any], ApiCall], async_api: ApiCall, intake: Any) -> None:
    # A dry run above the sync size keeps nothing, so it cannot be answered later: 413 naming the limit
    dry = async_api("POST", f"{BATCHES}?dryRun=true", mixed_batch())
    assert dry.status == 413 and "SYNC_BATCH_TIMECARDS" in dry.json["message"]
    # Over MAX_BATCH_TIMECARDS (200 here): 413 naming it
    over = async_api("POST", BATCHES, batch(*[timecard(1001, 501)] * 201))
    message = over.json["message"]
    assert over.status == 413 and "MAX_BATCH_TIMECARDS" in message and "200" in message and "201" in message
    # Without an intake bucket and queue: 413 naming SYNC_BATCH_TIMECARDS
    from timerack_bridge.api import deps

    bare = intake.settings.model_copy(update={"intake_bucket": None, "intake_queue_url": None})
    unset = api_for(deps.Services(settings=bare, dynamodb=intake.dynamodb))("POST", BATCHES, mixed_batch())
    assert unset.status == 413 and "SYNC_BATCH_TIMECARDS" in unset.json["message"]
    assert bodies(intake) == []


def test_the_sweep_queues_a_batch_accepted_but_never_queued_and_it_completes(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the queue refuses the send once the body and the record are stored
    def refuse(batch_id: str) -> None:
        raise RuntimeError("SQS is unavailable")

    monkeypatch.setattr(intake.intake_queue, "send", refuse)
    reply = accept(async_api, mixed_batch())
    batch_id = reply.json["batchId"]
    assert worker.messages() == []
    # When the hourly schedule runs the sweep now (too soon), then 16 minutes later
    from tests.integration.test_export import FakeContext

    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    assert worker.handler.lambda_handler(scheduled, FakeContext(), adapters=worker.adapters) == {"queued": []}
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert worker.handler.sweep(worker.adapters, now=later) == [batch_id]
    # Then the batch is queued again and the worker completes it
    assert worker.run() == [{"batchItemFailures": []}]
    assert history_of(api, batch_id)["status"] == "completed"
    # And a completed batch is never swept again
    assert worker.handler.sweep(worker.adapters, now=later) == []


def test_a_body_gone_from_the_bucket_reports_the_message_failed(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    # Given an accepted batch whose body is gone
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket="intake", Key=f"intake/{batch_id}.json.gz")
    # When the worker takes its message
    message = worker.messages()[0]
    reply = worker.deliver(message)
    # Then the message is reported failed (the queue dead-letters it) and the batch stays processing
    assert reply == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert history_of(api, batch_id)["status"] == "processing"


def test_a_batch_whose_last_attempt_fails_is_failed_for_timerack_to_send_again(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    # Given an accepted batch whose body is gone: every attempt fails
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket="intake", Key=f"intake/{batch_id}.json.gz")
    message = worker.messages()[0]
    # When the first attempts fail, it is still processing (the queue hands it out again)
    for receives in (1, 2):
        assert worker.deliver(message, receives=receives)["batchItemFailures"]
        assert history_of(api, batch_id)["status"] == "processing"
    # When the last attempt (the queue's maxReceiveCount) fails too
    assert worker.deliver(message, receives=3)["batchItemFailures"]
    # Then the batch says it failed: a state Timerack can act on (send it again), never swept, no report
    done = history_of(api, batch_id)
    assert done["status"] == "failed" and "failedReason" not in done
    later = datetime.now(UTC) + timedelta(minutes=16)
    assert worker.handler.sweep(worker.adapters, now=later) == []
    report = api("GET", f"/v1/payroll-history/{batch_id}/report.csv")
    assert report.status == 409 and "send it again" in report.json["message"]


def test_a_failed_batch_redriven_from_the_dead_letter_queue_completes(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    from dataclasses import replace

    # Given an accepted batch whose every attempt failed (DynamoDB refused it, say), so it is failed
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    message = worker.messages()[0]

    def refuse(assignment_id: int) -> None:
        raise RuntimeError("DynamoDB is unavailable")

    assert worker.deliver(message, replace(worker.adapters, before_unit_write=refuse), receives=3)["batchItemFailures"]
    assert history_of(api, batch_id)["status"] == "failed"
    # When an operator redrives it and it is delivered again
    assert worker.deliver(message) == {"batchItemFailures": []}
    # Then it completes with its results
    done = history_of(api, batch_id)
    assert done["status"] == "completed" and done["counts"]["created"] + done["counts"]["replaced"] > 0


def test_a_batch_that_fails_every_delivery_is_swept_again_once_not_every_quarter_hour(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    # Given an accepted batch whose body is gone: each delivery fails (the queue dead-letters it)
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket="intake", Key=f"intake/{batch_id}.json.gz")
    worker.deliver(worker.messages()[0])
    # When the sweep runs 16 minutes later, and again at every later schedule
    later = datetime.now(UTC) + timedelta(minutes=16)
    first = worker.handler.sweep(worker.adapters, now=later)
    again = [worker.handler.sweep(worker.adapters, now=later + timedelta(minutes=15 * n)) for n in (1, 2, 3)]
    # Then it was queued again once (the dead-letter queue and its alarm have it after that), never looped
    assert first == [batch_id] and again == [[], [], []]
    assert history_of(api, batch_id)["status"] == "processing"


def test_two_runs_of_one_batch_side_by_side_keep_the_first_completion(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    from dataclasses import replace

    # Given an accepted batch taken by a worker, and a second delivery (the sweep, a visibility timeout) that
    # completes it while the first is still writing; then a newer synchronous send replaces one of its units
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    message = worker.messages()[0]
    seen: list[dict[str, Any]] = []

    def second_delivery_first(assignment_id: int) -> None:
        if not seen:
            seen.append(worker.deliver(message))
            assert history_of(api, batch_id)["status"] == "completed"
            seen.append(history_of(api, batch_id))
            assert api("POST", BATCHES, batch(timecard(1001, 501))).status == 200

    first = replace(worker.adapters, before_unit_write=second_delivery_first)
    # When the first run finishes
    assert worker.deliver(message, first) == {"batchItemFailures": []}
    # Then the batch keeps the completion of the run that finished first: no unit turned "superseded" after
    # the client saw it completed, and its results are read back whole
    assert seen[0] == {"batchItemFailures": []}
    assert history_of(api, batch_id) == seen[1]
    assert "superseded" not in json.dumps(seen[1])


def test_a_redelivery_after_the_worker_died_mid_batch_gives_the_results_of_one_run(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker, api_for: Callable[[Any], ApiCall]
) -> None:
    from dataclasses import replace

    from tests.integration.test_intake_groups import add_assignments

    # Given 60 assignments (two pay codes each: several transactions), 4001 sent earlier
    assignments = list(range(4001, 4061))
    add_assignments(intake, assignments)
    assert api("POST", BATCHES, batch(timecard(4001, 501, "DT", 1.0))).status == 200
    body = batch(*[timecard(a, 501, code, 1.0) for a in assignments for code in ("REG", "OT")])
    twin = twin_api(intake, api_for)
    batch_id = accept(async_api, body).json["batchId"]

    # When the worker dies after its first transaction, and the message is delivered again
    def die_after_first_group(assignment_id: int) -> None:
        if assignment_id == assignments[-1]:  # in the last transaction: the first ones land
            raise RuntimeError("the worker was stopped")

    message = worker.messages()[0]
    dying = replace(worker.adapters, before_unit_write=die_after_first_group)
    assert worker.deliver(message, dying)["batchItemFailures"]
    written = "/v1/timecards?weekendBill=2026-11-22&assignmentId="
    assert len(api("GET", f"{written}4002", **ADMIN).json["items"]) == 2  # the first transaction landed
    assert api("GET", f"{written}4060", **ADMIN).json["items"] == []
    assert history_of(api, batch_id)["status"] == "processing"
    assert worker.deliver(message) == {"batchItemFailures": []}
    # Then the results are those of the batch sent once
    same = twin("POST", BATCHES, body)
    assert without_ids(history_of(api, batch_id)) == without_ids(history_of(twin, same.json["batchId"]))
    assert json.dumps(same.json).count("superseded") == 0


def _first_run_dies_midway(api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker) -> tuple[str, Any, set[int]]:
    """60 assignments accepted, the worker stopped before its last transaction: the batch, its message and
    the assignments the first run wrote."""
    from dataclasses import replace

    from tests.integration.test_intake_groups import add_assignments

    assignments = list(range(4001, 4061))
    add_assignments(intake, assignments)
    body = batch(*[timecard(a, 501, code, 1.0) for a in assignments for code in ("REG", "OT")])
    batch_id = accept(async_api, body).json["batchId"]

    def die_in_last_group(assignment_id: int) -> None:
        if assignment_id == assignments[-1]:
            raise RuntimeError("the worker was stopped")

    message = worker.messages()[0]
    assert worker.deliver(message, replace(worker.adapters, before_unit_write=die_in_last_group))["batchItemFailures"]
    written = {a for a in assignments if intake.timecards.unit_state(a, WEEKEND_BILL) is not None}
    assert written and len(written) < len(assignments)
    return batch_id, message, written


def test_a_redelivery_after_the_rep_left_the_group_still_reports_what_the_first_run_wrote(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    from timerack_bridge.domain import errors

    # Given a first run stopped midway, then the rep removed from the Timerack group
    batch_id, message, written = _first_run_dies_midway(api, async_api, intake, worker)
    group = intake.admin.get_group("Timerack")
    intake.admin.put_group(group.model_copy(update={"members": []}))
    # When the message is delivered again
    assert worker.deliver(message) == {"batchItemFailures": []}
    # Then the units the first run wrote say so (their timecards are stored); the others get the hierarchy error
    results = {r["assignmentId"]: r for r in history_of(api, batch_id)["results"]}
    assert {a for a, r in results.items() if r["status"] == "created"} == written
    assert {r["error"] for a, r in results.items() if a not in written} == {errors.HIERARCHY_LEVEL}
    assert all(len(results[a]["timecardIds"]) == 2 and results[a]["error"] is None for a in written)


def test_a_redelivery_after_the_week_closed_still_reports_what_the_first_run_wrote(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    from timerack_bridge.domain.entities import Week

    # Given a first run stopped midway, then its week closed
    batch_id, message, written = _first_run_dies_midway(api, async_api, intake, worker)
    intake.admin.put_week(Week(weekend_bill=WEEKEND_BILL, hierarchy_node_id="branch", status="closed"))
    # When the message is delivered again
    assert worker.deliver(message) == {"batchItemFailures": []}
    # Then the units the first run wrote say so; the others are refused as a send now would be, none written
    results = {r["assignmentId"]: r for r in history_of(api, batch_id)["results"]}
    assert {a for a, r in results.items() if r["status"] == "created"} == written
    assert all(r["status"] == "error" for a, r in results.items() if a not in written)
    assert {a for a in results if intake.timecards.unit_state(a, WEEKEND_BILL) is not None} == written


def test_a_redelivery_after_another_week_opened_never_writes_a_unit_in_two_weeks(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    from dataclasses import replace
    from datetime import timedelta as days

    from tests.integration.test_intake_groups import add_assignments
    from timerack_bridge.domain.entities import Week

    # Given 60 assignments sent with adjustments only (no days: valid in any week) and no pay period, so the
    # open week decides; the first run stops midway
    assignments = list(range(4101, 4161))
    add_assignments(intake, assignments)
    bonus = {"days": [], "adjustments": [{"code": "BONUS", "amount": 25.0, "description": "shift"}]}
    body = {
        "clientKey": CLIENT_KEY,
        "timecards": [timecard(a, 501, code, **bonus) for a in assignments for code in ("REG", "OT")],
    }
    batch_id = accept(async_api, body).json["batchId"]

    def die_in_last_group(assignment_id: int) -> None:
        if assignment_id == assignments[-1]:
            raise RuntimeError("the worker was stopped")

    message = worker.messages()[0]
    assert worker.deliver(message, replace(worker.adapters, before_unit_write=die_in_last_group))["batchItemFailures"]
    written = {a for a in assignments if intake.timecards.unit_state(a, WEEKEND_BILL) is not None}
    assert written and len(written) < len(assignments)
    # When that week closes and the next one opens, and the message is delivered again
    later_week = WEEKEND_BILL + days(days=7)
    intake.admin.put_week(Week(weekend_bill=WEEKEND_BILL, hierarchy_node_id="branch", status="closed"))
    intake.admin.put_week(Week(weekend_bill=later_week, hierarchy_node_id="branch", status="open"))
    assert worker.deliver(message) == {"batchItemFailures": []}
    # Then no assignment has its timecards in both weeks: the first run's units stay where they were written,
    # reported created; only the units not written yet go to the week open now
    in_first = {a for a in assignments if intake.timecards.unit_state(a, WEEKEND_BILL) is not None}
    in_later = {a for a in assignments if intake.timecards.unit_state(a, later_week) is not None}
    assert in_first == written and in_later == set(assignments) - written
    results = {r["assignmentId"]: r for r in history_of(api, batch_id)["results"]}
    assert all(r["status"] == "created" for r in results.values())
    assert {results[a]["weekendBill"] for a in written} == {WEEKEND_BILL.isoformat()}


def test_two_first_runs_that_resolved_different_weeks_write_nothing_twice(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import date

    # Given another run of the same batch kept other open weeks just before this one could keep its own
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    store = type(worker.adapters.accepted_batches)
    monkeypatch.setattr(store, "keep_weeks", lambda self, batch, weeks: {"branch": date(2026, 11, 29)})
    # When this run comes to write
    reply = worker.deliver(worker.messages()[0])
    # Then it writes nothing and is retried (as a re-run against the weeks kept)
    assert reply["batchItemFailures"]
    assert api("GET", "/v1/timecards?assignmentId=1002&weekendBill=2026-11-22", **ADMIN).json["items"] == []
    assert history_of(api, batch_id)["status"] == "processing"


def test_a_batch_whose_every_attempt_was_cut_short_is_failed_by_the_sweep(
    api: ApiCall, async_api: ApiCall, intake: Any, worker: Worker
) -> None:
    # Given an accepted batch whose attempts are all killed (a timeout: the worker never reports anything)
    batch_id = accept(async_api, mixed_batch()).json["batchId"]
    # When the sweep queues it again after 16 minutes, and it is still processing long after
    start = datetime.now(UTC) + timedelta(minutes=16)
    assert worker.handler.sweep(worker.adapters, now=start) == [batch_id]
    assert worker.handler.sweep(worker.adapters, now=start + timedelta(hours=2)) == []
    assert history_of(api, batch_id)["status"] == "processing"
    worker.handler.sweep(worker.adapters, now=start + timedelta(hours=3, minutes=15))
    # Then it is failed, so Timerack knows to send it again; a late completion is still taken
    assert history_of(api, batch_id)["status"] == "failed"
    assert worker.run()[0] == {"batchItemFailures": []}
    assert history_of(api, batch_id)["status"] == "completed"


def test_a_manual_import_stays_within_the_sync_size(
    manual_client: Agency, services: Any, api_for: Callable[[Any], ApiCall]
) -> None:
    from tests.conftest import EVENTS
    from tests.integration.test_timecard_import import feed
    from timerack_bridge.api import deps

    # Given SYNC_BATCH_TIMECARDS of 2 (an import is always answered at once), MAX_BATCH_TIMECARDS of 20,000
    settings = services.settings.model_copy(update={"sync_batch_timecards": 2})
    api = api_for(deps.Services(settings=settings, dynamodb=services.dynamodb))
    # When the sample feed (3 timecards) is imported
    reply = feed(api, (EVENTS / "timerack-feed.csv").read_text())
    # Then it is refused, naming the sync size
    assert reply.status == 413, reply.text
    assert "SYNC_BATCH_TIMECARDS" in reply.json["message"] and "2 " in reply.json["message"]
