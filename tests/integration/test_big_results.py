"""Issue 18, item 3: a batch of up to 20,000 timecards keeps its Payroll History record under 400 KB.

Results whose gzip passes RESULTS_INLINE_MAX_BYTES go to the intake bucket (results/{batchId}.json.gz) and
the record keeps their key and sha256; the API (GET, report.csv) and the mailer read them back from there.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
import pytest

from tests.conftest import Agency, ApiCall
from tests.integration.test_mailer import Aws, aws, csv_rows, parsed, payroll_email  # noqa: F401 (fixture)
from timerack_bridge.adapters.batch_objects import S3BatchObjects
from timerack_bridge.adapters.dynamodb import payroll_history
from timerack_bridge.adapters.dynamodb.payroll_history import (
    BatchResultsTooBig,
    BatchResultsUnavailable,
    PayrollHistoryStore,
)
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.domain.report import render_csv

BUCKET = "intake"
TABLE = "main"
WEEKEND_BILL = date(2026, 11, 22)
DYNAMODB_ITEM_LIMIT = 400 * 1024
LONG_WARNING = (
    "The timecard for Assignment {id} for the week ending 2026-11-22 replaced the one sent on {day}: "
    "pay code {code} was not in this send and was removed"
)


def kept_key(batch_id: str) -> str:
    """The one results object kept for the batch (its key carries the content's sha256 too)."""
    listing = boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET, Prefix=f"results/{batch_id}-")
    (only,) = listing["Contents"]
    return str(only["Key"])


def results_of(count: int, *, warnings: int = 1, seed: int = 18) -> list[AssignmentResult]:
    """One-timecard units with random 8-digit ids, every fifth an error, each with `warnings` long warnings."""
    rng = random.Random(seed)
    ids = rng.sample(range(10_000_000, 100_000_000), count)
    return [
        AssignmentResult(
            assignment_id=assignment_id,
            status="error" if n % 5 == 0 else "created",
            timecard_ids=[] if n % 5 == 0 else [f"TC-{assignment_id}-20261122-REG"],
            error=(
                f"The Assignment with an Id of {assignment_id} could not be found or is not currently visible."
                if n % 5 == 0
                else None
            ),
            warnings=[
                LONG_WARNING.format(
                    id=assignment_id, day=f"2026-11-{rng.randint(10, 22)}", code=f"X{rng.randint(0, 999)}"
                )
                for _ in range(warnings)
            ],
            employee_id=rng.randint(10_000_000, 99_999_999),
            pay_codes=["REG"],
            weekend_bill=WEEKEND_BILL,
        )
        for n, assignment_id in enumerate(ids)
    ]


def completed(batch_id: str, results: list[AssignmentResult], *, customer_id: int = 100) -> BatchResult:
    errors = sum(r.status == "error" for r in results)
    return BatchResult(
        batch_id=batch_id,
        client_key="ACME-1",
        customer_id=customer_id,
        submitted_at=datetime(2026, 11, 23, tzinfo=UTC),
        weekend_bill=WEEKEND_BILL,
        counts=BatchCounts(assignments=len(results), created=len(results) - errors, replaced=0, errors=errors),
        results=results,
    )


def stored_item(dynamodb: Any, batch_id: str) -> dict[str, Any]:
    """The record as DynamoDB holds it (attribute-value form)."""
    item: dict[str, Any] = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": f"BATCH#{batch_id}"}, "sk": {"S": "BATCH"}}
    )["Item"]
    return item


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (approximately): attribute names plus values, in bytes."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def value_size(value: dict[str, Any]) -> int:
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return len(Decimal(inner).as_tuple().digits) // 2 + 2
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in inner.items())
    return sum(len(str(v).encode()) for v in inner)  # SS, NS, BS


def s3_bucket() -> Any:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return s3


@pytest.fixture
def bucket_services(services: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The API's services with the intake bucket configured (INTAKE_BUCKET), on moto S3."""
    from timerack_bridge.api import deps
    from timerack_bridge.config import ApiSettings

    s3_bucket()
    monkeypatch.setenv("INTAKE_BUCKET", BUCKET)
    yield deps.Services(settings=ApiSettings.from_env(), dynamodb=services.dynamodb, export_queue=services.export_queue)


@pytest.fixture
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    """A threshold a few results pass, so the S3 form is exercised without 20,000 of them."""
    monkeypatch.setattr(payroll_history, "RESULTS_INLINE_MAX_BYTES", 200)
    return 200


def test_the_api_store_keeps_big_results_in_the_bucket_and_answers_them_back(
    bucket_services: Any, api_for: Any, agency: Agency, low_threshold: int
) -> None:
    # Given the API configured with the intake bucket, and a completed batch whose results' gzip passes the threshold
    api: ApiCall = api_for(bucket_services)
    results = results_of(40)
    bucket_services.batches.put_batch(completed("B-big", results))
    # Then the record keeps the results' key and sha256, not the results; the bucket holds them
    item = stored_item(bucket_services.dynamodb, "B-big")
    assert "results_gz" not in item
    assert item["results_s3"] == {"S": kept_key("B-big")} and kept_key("B-big").startswith("results/B-big-")
    s3 = boto3.client("s3", region_name="us-east-1")
    body = s3.get_object(Bucket=BUCKET, Key=kept_key("B-big"))["Body"].read()
    assert len(body) > low_threshold
    assert [AssignmentResult.model_validate(r) for r in json.loads(gzip.decompress(body))] == results
    # And GET and report.csv answer them as sent
    reply = api("GET", "/v1/payroll-history/B-big")
    assert reply.status == 200, reply.text
    assert reply.json["results"] == [r.model_dump(mode="json", by_alias=True) for r in results]
    report = api("GET", "/v1/payroll-history/B-big/report.csv")
    assert report.status == 200 and report.text == render_csv(results)


def test_results_under_the_threshold_stay_in_the_record(bucket_services: Any, agency: Agency) -> None:
    # Given a 5,000-unit batch (the synchronous size): its gzip is under the threshold
    results = results_of(5_000)
    bucket_services.batches.put_batch(completed("B-small", results))
    # Then the results stay inline, and nothing is written to the bucket
    item = stored_item(bucket_services.dynamodb, "B-small")
    assert "results_gz" in item and "results_s3" not in item and "results_sha256" not in item
    assert "Contents" not in boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket=BUCKET)
    assert bucket_services.batches.get_batch("B-small").results == results


def test_the_api_gets_the_bucket_when_intake_bucket_is_set(bucket_services: Any, services: Any) -> None:
    # The store reaches the intake bucket (its S3 client is built by the first batch with results there)
    assert bucket_services.batches.objects is not None
    assert services.batches.objects is None  # no INTAKE_BUCKET: every batch's results inline, as before


def test_20000_units_with_long_warnings_fit_the_400_kb_item(services: Any) -> None:
    # Given 20,000 one-timecard units with random ids and three long warnings each: their gzip alone passes 400 KB
    s3 = s3_bucket()
    store = PayrollHistoryStore(services.dynamodb, TABLE, objects=S3BatchObjects(s3, BUCKET))
    results = results_of(20_000, warnings=3)
    assert len(payroll_history._compress_results(results)) > DYNAMODB_ITEM_LIMIT
    # When the completed batch is stored
    store.put_batch(completed("B-20000", results))
    # Then the item written is well under DynamoDB's 400 KB, and the batch reads back whole
    item = stored_item(services.dynamodb, "B-20000")
    assert item_size(item) < 2_000
    assert "results_s3" in item
    assert store.get_batch("B-20000") == completed("B-20000", results)


def test_without_a_bucket_results_too_big_for_the_item_are_refused_before_the_record_is_written(services: Any) -> None:
    # Given a store without the intake bucket, and a batch's "processing" record already written
    store = PayrollHistoryStore(services.dynamodb, TABLE)
    processing = completed("B-nobucket", []).model_copy(update={"status": "processing"})
    store.put_batch(processing)
    # When its completed record's results pass what one item holds
    with pytest.raises(BatchResultsTooBig, match=r"B-nobucket.*INTAKE_BUCKET"):
        store.put_batch(completed("B-nobucket", results_of(20_000, warnings=3)))
    # Then the "processing" record stays as it was (nothing half-written)
    assert store.get_batch("B-nobucket") == processing


def test_without_a_bucket_results_over_the_threshold_stay_inline_while_they_fit(
    services: Any, low_threshold: int
) -> None:
    store = PayrollHistoryStore(services.dynamodb, TABLE)
    results = results_of(40)
    store.put_batch(completed("B-inline", results))
    assert "results_gz" in stored_item(services.dynamodb, "B-inline")
    assert store.get_batch("B-inline") == completed("B-inline", results)


def test_a_missing_results_object_is_a_clear_error_naming_the_batch(
    bucket_services: Any, api_for: Any, agency: Agency, low_threshold: int
) -> None:
    # Given a batch whose results object was removed from the bucket
    api: ApiCall = api_for(bucket_services)
    bucket_services.batches.put_batch(completed("B-gone", results_of(40)))
    boto3.client("s3", region_name="us-east-1").delete_object(Bucket=BUCKET, Key=kept_key("B-gone"))
    # Then the store says so, naming the batch; the API answers 500 with that message, not a stack
    with pytest.raises(BatchResultsUnavailable, match="B-gone"):
        bucket_services.batches.get_batch("B-gone")
    for path in ("/v1/payroll-history/B-gone", "/v1/payroll-history/B-gone/report.csv"):
        reply = api("GET", path)
        assert reply.status == 500
        assert "B-gone" in reply.json["message"] and "Traceback" not in reply.text


def test_results_that_do_not_match_their_sha256_are_refused(services: Any, low_threshold: int) -> None:
    s3 = s3_bucket()
    store = PayrollHistoryStore(services.dynamodb, TABLE, objects=S3BatchObjects(s3, BUCKET))
    store.put_batch(completed("B-tampered", results_of(40)))
    s3.put_object(Bucket=BUCKET, Key=kept_key("B-tampered"), Body=payroll_history._compress_results(results_of(3)))
    with pytest.raises(BatchResultsUnavailable, match=r"B-tampered.*sha256"):
        store.get_batch("B-tampered")


def test_a_record_with_results_in_the_bucket_without_one_configured_is_a_clear_error(
    services: Any, low_threshold: int
) -> None:
    s3 = s3_bucket()
    PayrollHistoryStore(services.dynamodb, TABLE, objects=S3BatchObjects(s3, BUCKET)).put_batch(
        completed("B-elsewhere", results_of(40))
    )
    with pytest.raises(BatchResultsUnavailable, match=r"B-elsewhere.*INTAKE_BUCKET"):
        PayrollHistoryStore(services.dynamodb, TABLE).get_batch("B-elsewhere")


# ---------------------------------------------------------------- the mailer, from the table's stream


def big_batch_with_errors(cloud: Aws) -> tuple[S3BatchObjects, list[AssignmentResult]]:
    """ACME-1 receives the error file; its completed batch's results are in the bucket."""
    objects = S3BatchObjects(s3_bucket(), BUCKET)
    payroll_email(cloud, "payroll@acme.example")
    customer = cloud.admin.get_customer_by_client_key("ACME-1")
    assert customer is not None
    store = PayrollHistoryStore(cloud.dynamodb, TABLE, objects=objects)
    results = results_of(40)
    store.put_batch(completed("B-mail", results), error_file=cloud.admin.payroll_email_of(customer))
    assert "results_s3" in stored_item(cloud.dynamodb, "B-mail")
    return objects, results


def test_the_mailer_reads_a_big_batchs_results_from_the_bucket(aws: Aws, low_threshold: int) -> None:  # noqa: F811
    # Given a completed batch with errors whose results are in the bucket
    objects, results = big_batch_with_errors(aws)
    event = aws.error_file_event()
    # When the mailer gets its stream record (the stream filter lets it through)
    assert len(event["Records"]) == 1
    response = aws.mail(event, results_objects=objects)
    # Then the email carries every error row, read from the bucket
    assert response == {"batchItemFailures": []}
    (sent,) = aws.sent()
    rows = csv_rows(parsed(sent.raw_data))
    assert [int(r[0]) for r in rows[1:]] == [r.assignment_id for r in results if r.status == "error"]


def test_the_mailer_function_reads_the_bucket_through_its_adapters(
    aws: Aws,  # noqa: F811
    low_threshold: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the function's configuration with the intake bucket, and a big batch with errors
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SENDER_EMAIL", "timerack-bridge@agency.example")
    monkeypatch.setenv("INTAKE_BUCKET", BUCKET)
    from functions.mailer import handler as mailer_handler
    from tests.integration.test_mailer import FakeContext
    from timerack_bridge.adapters.dynamodb.admin import AdminStore
    from timerack_bridge.config import MailerSettings

    objects, _ = big_batch_with_errors(aws)
    settings = MailerSettings.from_env()
    adapters = mailer_handler.MailerAdapters(settings, AdminStore(aws.dynamodb, TABLE), aws.sesv2, objects)
    # When the function gets its stream record, the email goes out with the results read from the bucket
    response = mailer_handler.lambda_handler(aws.error_file_event(), FakeContext(), adapters=adapters)
    assert response == {"batchItemFailures": []}
    assert len(aws.sent()) == 1
    # And the function's own adapters build their S3 client only when a record needs it
    built = mailer_handler.bucket_results(settings)
    assert built is not None and built.built is False
    assert mailer_handler.bucket_results(settings.model_copy(update={"intake_bucket": None})) is None


def test_the_mailer_retries_a_record_whose_results_are_missing(aws: Aws, low_threshold: int) -> None:  # noqa: F811
    # Given a big batch's results removed from the bucket, and a mailer without the bucket
    objects, _ = big_batch_with_errors(aws)
    event = aws.error_file_event()
    objects.s3.delete_object(Bucket=BUCKET, Key=kept_key("B-mail"))
    # Then the record is reported failed (the stream retries it), and nothing is sent
    sequence = event["Records"][0]["dynamodb"]["SequenceNumber"]
    assert aws.mail(event, results_objects=objects) == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert aws.mail(event) == {"batchItemFailures": [{"itemIdentifier": sequence}]}
    assert aws.sent() == []
