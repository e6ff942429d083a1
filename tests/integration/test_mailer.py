"""Error-file emails from the table's stream through SES, on moto."""

from __future__ import annotations

import csv
import email
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

from local.stream_poller import lambda_record
from timerack_bridge.adapters.dynamodb.admin import AdminStore
from timerack_bridge.adapters.dynamodb.mail_marker import MailMarkerStore
from timerack_bridge.adapters.dynamodb.payroll_history import PayrollHistoryStore
from timerack_bridge.adapters.dynamodb.stream_filter import is_error_file_record
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.domain.entities import Customer, PayrollEmail
from timerack_bridge.mail_stream import process_stream_event

EVENTS = Path(__file__).resolve().parents[2] / "events"
REGION = "us-east-1"
TABLE = "main"
SENDER = "timerack-bridge@agency.example"
WEEKEND_BILL = date(2026, 11, 22)
NOT_FOUND = "The Assignment with an Id of {} could not be found or is not currently visible."


@dataclass
class Aws:
    dynamodb: Any
    streams: Any
    sesv2: Any
    admin: AdminStore
    batches: PayrollHistoryStore
    stream_arn: str
    _iterator: str

    def new_stream_records(self) -> list[dict[str, Any]]:
        """Everything written since the last call, as Lambda delivers it."""
        response = self.streams.get_records(ShardIterator=self._iterator)
        self._iterator = response["NextShardIterator"]
        return [lambda_record(r, self.stream_arn) for r in response["Records"]]

    def error_file_event(self) -> dict[str, Any]:
        """The new stream records that pass the AWS event filters, as one Lambda event."""
        records = [r for r in self.new_stream_records() if is_error_file_record(r)]
        return {"Records": records}

    def sent(self) -> list[Any]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)

    def mail(self, event: dict[str, Any], ses_client: Any = None, **kwargs: Any) -> dict[str, Any]:
        if not event["Records"]:
            return {"batchItemFailures": []}  # Lambda invokes nothing when the filters let no record through
        return process_stream_event(
            event, admin_store=self.admin, ses_client=ses_client or self.sesv2, sender=SENDER, **kwargs
        )


@pytest.fixture
def aws() -> Iterator[Aws]:
    from moto import mock_aws

    from timerack_bridge.adapters.dynamodb.tables import create_tables

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb, TABLE, "idem")
        # botocore's account-based streams endpoint ({account}.streams-ddb...) is not one moto answers.
        streams = boto3.client(
            "dynamodbstreams", region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
        )
        sesv2 = boto3.client("sesv2", region_name=REGION)
        sesv2.create_email_identity(EmailIdentity=SENDER)
        arn = dynamodb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
        admin = AdminStore(dynamodb, TABLE)
        admin.put_customer(
            Customer(customer_id=100, name="Acme", hierarchy_node_id="branch", timerack_client_key="ACME-1")
        )
        admin.put_customer(
            Customer(customer_id=200, name="Globex", hierarchy_node_id="branch", timerack_client_key="GLOBEX-1")
        )
        yield Aws(dynamodb, streams, sesv2, admin, PayrollHistoryStore(dynamodb, TABLE), arn, iterator["ShardIterator"])


def payroll_email(aws: Aws, *recipients: str, receive: bool = True, client_key: str = "ACME-1") -> None:
    aws.admin.put_payroll_email(
        PayrollEmail(client_key=client_key, recipients=list(recipients), receive_error_file=receive)
    )


def completed_batch(aws: Aws, batch_id: str, *, errors: int = 2, client_key: str = "ACME-1") -> BatchResult:
    """The API's two writes: "processing" first, then "completed" with the results, each with the
    customer and the error-file setting of the moment."""
    results = [
        AssignmentResult(
            assignment_id=1001,
            status="created",
            timecard_ids=["T1"],
            employee_id=501,
            pay_codes=["REG"],
            weekend_bill=WEEKEND_BILL,
        ),
        *(
            AssignmentResult(
                assignment_id=2000 + n,
                status="error",
                employee_id=600 + n,
                pay_codes=["REG"],
                weekend_bill=WEEKEND_BILL,
                error=NOT_FOUND.format(2000 + n),
            )
            for n in range(errors)
        ),
    ]
    counts = BatchCounts(assignments=len(results), created=1, replaced=0, errors=errors)
    customer = aws.admin.get_customer_by_client_key(client_key)
    assert customer is not None
    error_file = aws.admin.payroll_email_of(customer)
    batch = BatchResult(
        batch_id=batch_id,
        client_key=client_key,
        customer_id=customer.customer_id,
        submitted_at=datetime(2026, 11, 23, tzinfo=UTC),
        weekend_bill=WEEKEND_BILL,
        counts=counts,
        results=[],
        status="processing",
    )
    aws.batches.put_batch(batch, error_file=error_file)
    done = batch.model_copy(update={"status": "completed", "results": results})
    aws.batches.put_batch(done, error_file=error_file)
    return done


def parsed(raw: str) -> EmailMessage:
    message = email.message_from_string(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def csv_rows(message: EmailMessage) -> list[list[str]]:
    (attachment,) = message.iter_attachments()
    return list(csv.reader(io.StringIO(attachment.get_payload(decode=True).decode())))


def failing_for(batch_id: str, real_client: Any, error: Exception) -> Any:
    """An SES client that fails for one batch's message and sends the others."""

    class Client:
        def send_email(self, **params: Any) -> Any:
            if f"X-Timerack-Batch-Id: {batch_id}".encode() in params["Content"]["Raw"]["Data"]:
                raise error
            return real_client.send_email(**params)

    return Client()


def throttled() -> ClientError:
    return ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "SendEmail")


def test_a_batch_with_errors_gives_one_email_to_the_recipients(aws: Aws, tmp_path: Path) -> None:
    # Given a client that receives the error file, and a completed batch with three errors
    payroll_email(aws, "payroll@acme.example", "lead@acme.example")
    completed_batch(aws, "B-1", errors=3)
    event = aws.error_file_event()
    # When the mailer gets the stream event (the "processing" write is filtered out)
    assert len(event["Records"]) == 1
    response = aws.mail(event, outbox_dir=tmp_path)
    # Then exactly one email went out, to both recipients, with every error row attached
    assert response == {"batchItemFailures": []}
    (sent,) = aws.sent()
    message = parsed(sent.raw_data)
    assert [a.addr_spec for a in message["To"].addresses] == ["payroll@acme.example", "lead@acme.example"]
    assert set(sent.destinations) == {"payroll@acme.example", "lead@acme.example"}
    assert message["Subject"] == "Timerack error file: Acme (ACME-1), week ending 2026-11-22 (3 errors)"
    rows = csv_rows(message)
    assert rows[0] == ["Assignment ID", "Employee ID", "Pay Code", "Weekend Bill", "Status", "Error Message"]
    assert [r[0] for r in rows[1:]] == ["2000", "2001", "2002"]
    assert all(r[4] == "error" for r in rows[1:])
    # And the local outbox holds the same message, the marker says sent
    (eml,) = tmp_path.glob("*.eml")
    assert eml.name == f"{sent.id}.eml"
    assert parsed(eml.read_text())["Subject"] == message["Subject"]
    marker = MailMarkerStore(aws.dynamodb, TABLE).get_marker("B-1")
    assert marker is not None and marker["state"] == "sent" and marker["messageId"] == sent.id


def test_setting_off_or_no_recipients_gives_no_email(aws: Aws) -> None:
    # Given one client with the setting off and another with no recipients
    payroll_email(aws, "payroll@acme.example", receive=False)
    payroll_email(aws, client_key="GLOBEX-1")
    aws.admin.put_payroll_email(PayrollEmail(client_key="GLOBEX-1", recipients=[], receive_error_file=True))
    completed_batch(aws, "B-off")
    completed_batch(aws, "B-none", client_key="GLOBEX-1")
    # When the mailer gets both
    response = aws.mail(aws.error_file_event())
    # Then nothing is sent and nothing is retried
    assert response == {"batchItemFailures": []}
    assert aws.sent() == []


def test_a_client_without_settings_gets_no_email(aws: Aws) -> None:
    completed_batch(aws, "B-1")
    assert aws.mail(aws.error_file_event()) == {"batchItemFailures": []}
    assert aws.sent() == []


def test_a_redelivered_record_gives_no_second_email(aws: Aws) -> None:
    # Given a batch already mailed
    payroll_email(aws, "payroll@acme.example")
    completed_batch(aws, "B-1")
    event = aws.error_file_event()
    aws.mail(event)
    # When the stream delivers the same record again, and the record is rewritten later
    again = aws.mail(event)
    aws.batches.put_batch(aws.batches.get_batch("B-1"))  # type: ignore[arg-type]
    rewritten = aws.mail(aws.error_file_event())
    # Then there is still exactly one email, and no failure to retry
    assert again == rewritten == {"batchItemFailures": []}
    assert len(aws.sent()) == 1


def test_unfiltered_records_are_checked_too(aws: Aws) -> None:
    # Given the raw stream (no AWS filter): a processing write, the completed write, the marker write
    payroll_email(aws, "payroll@acme.example")
    completed_batch(aws, "B-1")
    completed_batch(aws, "B-clean", errors=0)
    records = aws.new_stream_records()
    # When the mailer gets everything
    assert aws.mail({"Records": records}) == {"batchItemFailures": []}
    # Then only the completed batch with errors was mailed, and the marker's own record changes nothing
    assert len(aws.sent()) == 1
    assert aws.mail({"Records": aws.new_stream_records()}) == {"batchItemFailures": []}
    assert len(aws.sent()) == 1


def test_an_ses_failure_marks_that_record_for_retry_while_others_are_sent(aws: Aws) -> None:
    # Given three batches with errors, and SES refusing the second one's message
    payroll_email(aws, "payroll@acme.example")
    for batch_id in ("B-1", "B-2", "B-3"):
        completed_batch(aws, batch_id)
    event = aws.error_file_event()
    sequence_of = {
        r["dynamodb"]["NewImage"]["batch_id"]["S"]: r["dynamodb"]["SequenceNumber"] for r in event["Records"]
    }
    # When the mailer runs
    response = aws.mail(event, ses_client=failing_for("B-2", aws.sesv2, throttled()))
    # Then only B-2 is reported failed, B-1 and B-3 are sent
    assert response == {"batchItemFailures": [{"itemIdentifier": sequence_of["B-2"]}]}
    assert sorted(parsed(m.raw_data)["X-Timerack-Batch-Id"] for m in aws.sent()) == ["B-1", "B-3"]
    # And the retry of the whole event (as the stream does from the failure) sends B-2 once, nothing twice
    assert aws.mail(event) == {"batchItemFailures": []}
    assert sorted(parsed(m.raw_data)["X-Timerack-Batch-Id"] for m in aws.sent()) == ["B-1", "B-2", "B-3"]


def test_a_send_with_an_unknown_outcome_is_never_repeated(aws: Aws) -> None:
    # Given SES timing out after the message left (it may have been delivered)
    payroll_email(aws, "payroll@acme.example")
    completed_batch(aws, "B-1")
    event = aws.error_file_event()
    timeout = ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com")
    # When the mailer runs, then the stream retries
    first = aws.mail(event, ses_client=failing_for("B-1", aws.sesv2, timeout))
    retry = aws.mail(event)
    # Then the first attempt is reported failed, the retry sends nothing (at most one email)
    assert len(first["batchItemFailures"]) == 1
    assert retry == {"batchItemFailures": []}
    assert aws.sent() == []
    marker = MailMarkerStore(aws.dynamodb, TABLE).get_marker("B-1")
    assert marker is not None and marker["state"] == "sending"


@dataclass
class FakeContext:
    function_name: str = "timerack-mailer"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:timerack-mailer"
    aws_request_id: str = "req-1"


def test_the_sample_stream_event_drives_the_handler(aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Given the function's configuration, and ACME-1's settings changed since the sample batch was sent
    # (the batch carries the setting in force then: on, to payroll@acme.example)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SENDER_EMAIL", SENDER)
    monkeypatch.setenv("EMAIL_OUTBOX_DIR", str(tmp_path))
    from functions.mailer import handler as mailer_handler
    from timerack_bridge.config import MailerSettings

    # The function's composition root, on this test's moto clients
    adapters = mailer_handler.MailerAdapters(MailerSettings.from_env(), AdminStore(aws.dynamodb, TABLE), aws.sesv2)
    payroll_email(aws, "someone-else@acme.example", receive=False)
    event = json.loads((EVENTS / "mailer-stream.json").read_text())
    # When the sample event arrives
    response = mailer_handler.lambda_handler(event, FakeContext(), adapters=adapters)
    # Then one email with the sample's two error rows (three CSV rows: one error has two pay codes)
    assert response == {"batchItemFailures": []}
    (sent,) = aws.sent()
    assert set(sent.destinations) == {"payroll@acme.example"}
    rows = csv_rows(parsed(sent.raw_data))
    assert [(r[0], r[2]) for r in rows[1:]] == [("123", "REG"), ("1003", "REG"), ("1003", "OT")]
    assert len(list(tmp_path.glob("*.eml"))) == 1


def test_the_configured_ses_configuration_set_goes_with_every_send(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given the function configured with an SES configuration set (its sends are tracked by it)
    monkeypatch.setenv("TABLE_NAME", TABLE)
    monkeypatch.setenv("SENDER_EMAIL", SENDER)
    monkeypatch.setenv("SES_CONFIGURATION_SET", "payroll-mail")
    from functions.mailer import handler as mailer_handler
    from timerack_bridge.config import MailerSettings

    sends: list[dict[str, Any]] = []

    class RecordingSes:
        def send_email(self, **params: Any) -> dict[str, Any]:
            sends.append(params)
            return {"MessageId": "m-1"}

    adapters = mailer_handler.MailerAdapters(MailerSettings.from_env(), AdminStore(aws.dynamodb, TABLE), RecordingSes())
    event = json.loads((EVENTS / "mailer-stream.json").read_text())
    # When the sample event arrives
    response = mailer_handler.lambda_handler(event, FakeContext(), adapters=adapters)
    # Then the one email is sent with that configuration set
    assert response == {"batchItemFailures": []}
    assert [p.get("ConfigurationSetName") for p in sends] == ["payroll-mail"]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_handler_fails_loudly_without_its_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import cold_start
    from timerack_bridge.config import ConfigurationError

    # The function's cold start (the import of its handler) fails, naming the variables
    monkeypatch.delenv("TABLE_NAME", raising=False)
    monkeypatch.delenv("SENDER_EMAIL", raising=False)
    with pytest.raises(ConfigurationError, match="SENDER_EMAIL, TABLE_NAME"):
        cold_start("functions.mailer.handler")
