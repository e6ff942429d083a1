"""Issue 13, point 7: the error file follows the setting in force when the batch was sent.

The batch record keeps "Receive Error File" and the recipients of the moment it was sent; the stream
filter and the mailer read them from there, so a later change of the settings (or of the client key)
neither adds nor removes an email. Batches stored before the change fall back to the current settings.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import policy
from typing import Any

import boto3
import pytest
from botocore.config import Config

from local.stream_poller import lambda_record
from tests.conftest import Agency, ApiCall, batch, timecard
from timerack_bridge.adapters.dynamodb.stream_filter import is_error_file_record
from timerack_bridge.mail_stream import process_stream_event

REGION = "us-east-1"
SENDER = "timerack-bridge@agency.example"


@dataclass
class Mailer:
    """The table's stream as Lambda delivers it (through the AWS filter), the mailer, and SES on moto."""

    services: Any
    streams: Any
    sesv2: Any
    stream_arn: str
    iterator: str
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def deliver(self) -> dict[str, Any]:
        """Deliver everything written since the last call that passes the filter; returns that event."""
        response = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = response["NextShardIterator"]
        records = [lambda_record(r, self.stream_arn) for r in response["Records"]]
        event = {"Records": [r for r in records if is_error_file_record(r)]}
        self.redeliver(event)
        return event

    def redeliver(self, event: dict[str, Any]) -> None:
        if not event["Records"]:
            return  # Lambda invokes nothing when the filter lets no record through
        reply = process_stream_event(event, admin_store=self.services.admin, ses_client=self.sesv2, sender=SENDER)
        assert reply == {"batchItemFailures": []}

    def sent(self) -> list[email.message.EmailMessage]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        messages = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return [email.message_from_string(m.raw_data, policy=policy.default) for m in messages]  # type: ignore[misc]


@pytest.fixture
def mailer(services: Any, agency: Agency) -> Iterator[Mailer]:
    streams = boto3.client("dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled"))
    sesv2 = boto3.client("sesv2", region_name=REGION)
    sesv2.create_email_identity(EmailIdentity=SENDER)
    arn = services.dynamodb.describe_table(TableName="main")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    yield Mailer(services, streams, sesv2, arn, iterator["ShardIterator"])


def settings(api: ApiCall, *recipients: str, on: bool = True, client_key: str = "ACME-1") -> None:
    body = {"recipients": list(recipients), "receiveErrorFile": on}
    assert api("PUT", f"/v1/clients/{client_key}/payroll-email", body).status == 200


def send_with_error(api: ApiCall) -> str:
    reply = api("POST", "/v1/timecard-batches", batch(timecard(1001, 501), timecard(999, 501)))
    assert reply.status == 200 and reply.json["counts"]["errors"] == 1, reply.text
    return reply.json["batchId"]


def recipients_of(message: email.message.EmailMessage) -> list[str]:
    return [a.addr_spec for a in message["To"].addresses]


def test_a_batch_sent_with_the_setting_off_gets_no_email_when_it_is_switched_on_after(
    api: ApiCall, mailer: Mailer
) -> None:
    # Given the setting off when the batch is sent
    settings(api, "pay@acme.example", on=False)
    send_with_error(api)
    # When the setting is switched on before the mailer reads the stream
    settings(api, "pay@acme.example", on=True)
    event = mailer.deliver()
    # Then no email: the stream filter already drops the batch
    assert mailer.sent() == []
    assert event["Records"] == []


def test_a_batch_sent_with_the_setting_on_is_mailed_once_whatever_happens_after(api: ApiCall, mailer: Mailer) -> None:
    # Given the setting on, to pay@, when the batch is sent
    settings(api, "pay@acme.example")
    sent = send_with_error(api)
    # When the setting is switched off, the recipients changed, and the key changed, before the mailer runs
    settings(api, "other@acme.example", on=False)
    customer = {"name": "Acme", "hierarchyNodeId": "branch", "timerackClientKey": "ACME-2"}
    assert api("PUT", "/v1/customers/100", customer, admin=True).status == 200
    event = mailer.deliver()
    # Then one email, to the recipients of the moment it was sent
    (message,) = mailer.sent()
    assert message["X-Timerack-Batch-Id"] == sent
    assert recipients_of(message) == ["pay@acme.example"]
    # And a redelivery of the record sends nothing more
    mailer.redeliver(event)
    assert len(mailer.sent()) == 1


def test_recipients_kept_on_the_batch_are_not_shown_in_payroll_history(api: ApiCall, mailer: Mailer) -> None:
    settings(api, "pay@acme.example")
    sent = send_with_error(api)
    for path in ("/v1/payroll-history?clientKey=ACME-1", f"/v1/payroll-history/{sent}"):
        reply = api("GET", path)
        assert reply.status == 200
        assert "pay@acme.example" not in reply.text and "ecipient" not in reply.text


def _legacy_batch(services: Any, batch_id: str) -> None:
    """A completed batch with errors as the code before the fix wrote it: no stored setting."""
    from datetime import UTC, datetime

    from timerack_bridge.adapters.dynamodb.payroll_history import _compress_results
    from timerack_bridge.domain.batch import AssignmentResult

    submitted = datetime(2026, 11, 23, tzinfo=UTC).isoformat()
    results = [AssignmentResult(assignment_id=999, status="error", error="not found", employee_id=501)]
    services.admin.put(
        {
            "pk": f"BATCH#{batch_id}",
            "sk": "BATCH",
            "gsi1pk": "HISTORY#ACME-1",
            "gsi1sk": f"{submitted}#{batch_id}",
            "batch_id": batch_id,
            "client_key": "ACME-1",
            "submitted_at": submitted,
            "counts": {"assignments": 1, "created": 0, "replaced": 0, "errors": 1},
            "source": "timerack",
            "status": "completed",
            "hasErrors": True,
            "results_gz": _compress_results(results),
        }
    )


def test_a_batch_stored_before_the_fix_follows_the_current_setting(api: ApiCall, services: Any, mailer: Mailer) -> None:
    # Given a legacy record (no stored setting) while the setting is off: no email
    settings(api, "pay@acme.example", on=False)
    _legacy_batch(services, "LEGACY-OFF")
    mailer.deliver()
    assert mailer.sent() == []
    # Given one while the setting is on: one email, to the current recipients
    settings(api, "pay@acme.example", on=True)
    _legacy_batch(services, "LEGACY-ON")
    mailer.deliver()
    (message,) = mailer.sent()
    assert message["X-Timerack-Batch-Id"] == "LEGACY-ON"
    assert recipients_of(message) == ["pay@acme.example"]


def test_the_stream_filter_reads_the_setting_stored_on_the_batch() -> None:
    def record(**extra: Any) -> dict[str, Any]:
        image = {"sk": {"S": "BATCH"}, "status": {"S": "completed"}, "hasErrors": {"BOOL": True}, **extra}
        return {"eventName": "MODIFY", "dynamodb": {"NewImage": image}}

    assert is_error_file_record(record(receiveErrorFile={"BOOL": True}))
    assert not is_error_file_record(record(receiveErrorFile={"BOOL": False}))
    # A record stored before the setting was kept on batches: the mailer decides (current setting)
    assert is_error_file_record(record())
