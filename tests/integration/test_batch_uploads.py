"""Batch uploads (issue 18, item 3): a body too big for Lambda's 6 MB event is PUT to S3 by a presigned URL,
then sent by its upload id, as POST /v1/timecard-batches sends a batch."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from tests.conftest import PRINCIPAL, Agency, ApiCall, batch, timecard

UPLOADS = "/v1/timecard-batches/uploads"
BUCKET = "intake-bucket"


@pytest.fixture
def upload_services(services: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API's services with an intake bucket and queue (on moto), as the stack configures them."""
    from timerack_bridge.api.deps import Services
    from timerack_bridge.config import ApiSettings

    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    queue_url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="intake")["QueueUrl"]
    monkeypatch.setenv("INTAKE_BUCKET", BUCKET)
    monkeypatch.setenv("INTAKE_QUEUE_URL", queue_url)
    monkeypatch.setenv("SYNC_BATCH_TIMECARDS", "4")
    yield Services(ApiSettings.from_env(), dynamodb=services.dynamodb, export_queue=services.export_queue)


@pytest.fixture
def uploads_api(api_for: Callable[[Any], ApiCall], upload_services: Any) -> ApiCall:
    return api_for(upload_services)


def bucket_keys() -> list[str]:
    listing = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


def upload(api: ApiCall, body: bytes, **call: Any) -> str:
    """Ask for an upload and PUT the body to its URL (a real HTTP PUT, which moto answers); its id."""
    import requests

    reply = api("POST", UPLOADS, **call)
    assert reply.status == 201, reply.text
    put = requests.put(reply.json["uploadUrl"], data=body, headers=reply.json["headers"], timeout=30)
    assert put.status_code == 200, put.text
    return str(reply.json["uploadId"])


def test_a_rep_gets_a_presigned_put_of_15_minutes_in_their_own_folder(
    uploads_api: ApiCall, upload_services: Any, agency: Agency
) -> None:
    from timerack_bridge.api.routes.uploads import caller_hash

    reply = uploads_api("POST", UPLOADS)
    assert reply.status == 201, reply.text
    answer = reply.json
    assert set(answer) == {"uploadId", "uploadUrl", "method", "headers", "expiresAt", "maxBytes"}
    assert answer["method"] == "PUT" and answer["headers"] == {"Content-Type": "application/json"}
    assert answer["maxBytes"] == upload_services.settings.max_body_bytes
    url = urlsplit(answer["uploadUrl"])
    assert url.path.endswith(f"uploads/{caller_hash(PRINCIPAL)}/{answer['uploadId']}.json")
    assert parse_qs(url.query)["X-Amz-Expires"] == ["900"]
    assert answer["expiresAt"].endswith("Z") or answer["expiresAt"].endswith("+00:00")


def test_only_timerack_reps_may_ask_for_an_upload(uploads_api: ApiCall, agency: Agency) -> None:
    assert uploads_api("POST", UPLOADS, principal=None).status == 401
    assert uploads_api("POST", UPLOADS, principal="stranger").status == 403
    assert uploads_api("POST", f"{UPLOADS}/{'a' * 32}", principal="stranger").status == 403


def test_an_uploaded_batch_is_sent_once_and_then_removed(uploads_api: ApiCall, agency: Agency) -> None:
    # Given a batch PUT to an upload's URL
    upload_id = upload(uploads_api, json.dumps(batch(timecard(1001, 501), timecard(999, 501))).encode())
    assert len(bucket_keys()) == 1
    # When it is sent
    reply = uploads_api("POST", f"{UPLOADS}/{upload_id}")
    # Then it is answered as the batch route answers it, and written
    assert reply.status == 200, reply.text
    assert reply.json["counts"] == {"assignments": 2, "created": 1, "replaced": 0, "errors": 1}
    stored = uploads_api("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22")
    assert [card["totalHours"] for card in stored.json["items"]] == [8.0]
    # And the upload is removed: sent again it is a 404 naming it
    assert bucket_keys() == []
    again = uploads_api("POST", f"{UPLOADS}/{upload_id}")
    assert again.status == 404 and upload_id in again.json["message"]


def test_a_batch_over_the_synchronous_size_is_accepted(uploads_api: ApiCall, agency: Agency) -> None:
    cards = [timecard(1001, 501, "REG", 8.0, day) for day in _days(5)]
    upload_id = upload(uploads_api, json.dumps(batch(*cards)).encode())
    reply = uploads_api("POST", f"{UPLOADS}/{upload_id}")
    assert reply.status == 202, reply.text
    # The upload is gone; the accepted body is kept under intake/ for the intake worker
    assert all(not key.startswith("uploads/") for key in bucket_keys())


def test_nothing_uploaded_or_another_callers_upload_is_404(uploads_api: ApiCall, services: Any, agency: Agency) -> None:
    from timerack_bridge.domain.entities import ServiceRep

    # Given a second rep of the same group, and an upload the first rep asked for and filled
    services.admin.put_rep(
        ServiceRep(rep_id="rep-2", name="Other", principal="other-rep", current_hierarchy_node_id="branch")
    )
    group = services.admin.get_group("Timerack")
    services.admin.put_group(group.model_copy(update={"members": [*group.members, "rep-2"]}))
    upload_id = upload(uploads_api, json.dumps(batch(timecard(1001, 501))).encode())
    # Then the other rep cannot send it, and an id never uploaded is a 404 naming it
    assert uploads_api("POST", f"{UPLOADS}/{upload_id}", principal="other-rep").status == 404
    never = uploads_api("POST", f"{UPLOADS}/{'0' * 32}")
    assert never.status == 404 and "0" * 32 in never.json["message"]
    # And an id that is not an upload id is a 422
    assert uploads_api("POST", f"{UPLOADS}/..%2Fintake").status == 422


def test_an_upload_over_the_body_limit_is_413_naming_it(
    api_for: Callable[[Any], ApiCall], upload_services: Any, agency: Agency
) -> None:
    small = upload_services.settings.model_copy(update={"max_body_bytes": 100})
    upload_services.settings = small
    api = api_for(upload_services)
    upload_id = upload(api, json.dumps(batch(timecard(1001, 501), timecard(1005, 501))).encode())
    reply = api("POST", f"{UPLOADS}/{upload_id}")
    assert reply.status == 413 and upload_id in reply.json["message"] and "100" in reply.json["message"]


def test_an_upload_replaced_by_a_bigger_one_after_its_size_was_checked_is_413_and_removed(
    api_for: Callable[[Any], ApiCall], upload_services: Any, agency: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an upload whose size reads small, but whose object is over the limit when it is read
    upload_services.settings = upload_services.settings.model_copy(update={"max_body_bytes": 100})
    api = api_for(upload_services)
    upload_id = upload(api, json.dumps(batch(timecard(1001, 501), timecard(1005, 501))).encode())
    monkeypatch.setattr(type(upload_services.batch_objects), "upload_size", lambda self, key: 10)
    # When it is sent
    reply = api("POST", f"{UPLOADS}/{upload_id}")
    # Then it is a 413 naming the limit (the read stopped past it), and the upload is gone, not left a day
    assert reply.status == 413 and "100" in reply.json["message"]
    assert api("POST", f"{UPLOADS}/{upload_id}").status == 404


def test_a_sent_upload_that_cannot_be_removed_still_answers_its_batch(
    uploads_api: ApiCall, upload_services: Any, agency: Agency, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given S3 refuses to remove the upload once its batch is written
    upload_id = upload(uploads_api, json.dumps(batch(timecard(1001, 501))).encode())

    def refuse(self: Any, key: str) -> None:
        raise RuntimeError("S3 is unavailable")

    monkeypatch.setattr(type(upload_services.batch_objects), "delete_upload", refuse)
    # When it is sent
    reply = uploads_api("POST", f"{UPLOADS}/{upload_id}")
    # Then the batch's answer goes out (a 5xx would have Timerack send a written batch again)
    assert reply.status == 200 and reply.json["counts"]["created"] == 1


def test_an_empty_upload_is_422(uploads_api: ApiCall, agency: Agency) -> None:
    upload_id = upload(uploads_api, b"")
    reply = uploads_api("POST", f"{UPLOADS}/{upload_id}")
    assert reply.status == 422, reply.text


def test_a_malformed_upload_is_422_naming_the_field(uploads_api: ApiCall, agency: Agency) -> None:
    bad = batch(timecard(1001, 501))
    del bad["timecards"][0]["employeeId"]
    upload_id = upload(uploads_api, json.dumps(bad).encode())
    reply = uploads_api("POST", f"{UPLOADS}/{upload_id}")
    assert reply.status == 422 and "timecards[0].employeeId" in reply.json["message"]
    not_json = upload(uploads_api, b"{not json")
    assert uploads_api("POST", f"{UPLOADS}/{not_json}").status == 422


def test_a_dry_run_writes_nothing_and_keeps_the_upload(uploads_api: ApiCall, agency: Agency) -> None:
    upload_id = upload(uploads_api, json.dumps(batch(timecard(1001, 501))).encode())
    dry = uploads_api("POST", f"{UPLOADS}/{upload_id}?dryRun=true")
    assert dry.status == 200, dry.text
    stored = uploads_api("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22")
    assert stored.json["items"] == []
    assert uploads_api("POST", f"{UPLOADS}/{upload_id}").status == 200


def test_the_same_idempotency_key_answers_the_first_reply_after_the_upload_is_gone(
    uploads_api: ApiCall, agency: Agency
) -> None:
    upload_id = upload(uploads_api, json.dumps(batch(timecard(1001, 501))).encode())
    key = {"Idempotency-Key": "upload-1"}
    first = uploads_api("POST", f"{UPLOADS}/{upload_id}", headers=key)
    assert first.status == 200, first.text
    replay = uploads_api("POST", f"{UPLOADS}/{upload_id}", headers=key)
    assert replay.status == 200 and replay.json == first.json
    # Another upload with the same key is refused
    other = upload(uploads_api, json.dumps(batch(timecard(1001, 501))).encode())
    assert uploads_api("POST", f"{UPLOADS}/{other}", headers=key).status == 422


def test_the_replay_of_an_accepted_upload_is_the_same_202(uploads_api: ApiCall, agency: Agency) -> None:
    cards = [timecard(1001, 501, "REG", 8.0, day) for day in _days(5)]
    upload_id = upload(uploads_api, json.dumps(batch(*cards)).encode())
    key = {"Idempotency-Key": "upload-big"}
    first = uploads_api("POST", f"{UPLOADS}/{upload_id}", headers=key)
    replay = uploads_api("POST", f"{UPLOADS}/{upload_id}", headers=key)
    assert first.status == 202, first.text
    assert replay.status == 202 and replay.json == first.json
    assert replay.headers["Location"] == first.headers["Location"] == f"/v1/payroll-history/{first.json['batchId']}"


def test_without_an_intake_bucket_uploads_are_404_saying_why(api: ApiCall, agency: Agency) -> None:
    reply = api("POST", UPLOADS)
    assert reply.status == 404 and "INTAKE_BUCKET" in reply.json["message"]
    assert api("POST", f"{UPLOADS}/{'a' * 32}").status == 404


def _days(count: int) -> list[Any]:
    from datetime import date, timedelta

    return [date(2026, 11, 16) + timedelta(days=n) for n in range(count)]
