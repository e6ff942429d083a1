"""The error-file email, built without AWS: headers, summary, and the CSV attached."""

from __future__ import annotations

import csv
import email
import io
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage

from timerack_bridge.adapters.dynamodb.stream_filter import is_error_file_record
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.domain.entities import PayrollEmail
from timerack_bridge.domain.error_mail import build_error_file_message, raw_bytes, reason_not_to_mail
from timerack_bridge.domain.report import REPORT_HEADER

WEEKEND_BILL = date(2026, 11, 22)
SENDER = "timerack-bridge@agency.example"
RECIPIENTS = ["payroll@acme.example", "lead@acme.example"]


def a_batch(*results: AssignmentResult, weekend_bill: date | None = WEEKEND_BILL) -> BatchResult:
    errors = sum(r.status == "error" for r in results)
    return BatchResult(
        batch_id="B-1",
        client_key="ACME-1",
        submitted_at=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        weekend_bill=weekend_bill,
        counts=BatchCounts(
            assignments=len(results),
            created=sum(r.status == "created" for r in results),
            replaced=sum(r.status == "replaced" for r in results),
            errors=errors,
        ),
        results=list(results),
    )


def error(assignment_id: int, message: str, *pay_codes: str, employee_id: int = 501) -> AssignmentResult:
    return AssignmentResult(
        assignment_id=assignment_id,
        status="error",
        error=message,
        employee_id=employee_id,
        pay_codes=list(pay_codes) or ["REG"],
        weekend_bill=WEEKEND_BILL,
    )


def created(assignment_id: int) -> AssignmentResult:
    return AssignmentResult(
        assignment_id=assignment_id,
        status="created",
        timecard_ids=["T"],
        employee_id=500,
        pay_codes=["REG"],
        weekend_bill=WEEKEND_BILL,
    )


def as_received(message: EmailMessage) -> EmailMessage:
    """The message parsed back from the bytes SES gets."""
    parsed = email.message_from_bytes(raw_bytes(message), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def attachment_rows(message: EmailMessage) -> list[list[str]]:
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    return list(csv.reader(io.StringIO(attachments[0].get_payload(decode=True).decode("utf-8"))))


def test_subject_names_the_client_and_the_week_ending() -> None:
    # Given a batch with two errors
    batch = a_batch(created(1001), error(123, "not found"), error(124, "not found"))
    # When the email is built
    message = as_received(build_error_file_message(batch, client_name="Acme", sender=SENDER, recipients=RECIPIENTS))
    # Then the subject names client and week, and it goes to every recipient from the configured sender
    assert message["Subject"] == "Timerack error file: Acme (ACME-1), week ending 2026-11-22 (2 errors)"
    assert message["From"] == SENDER
    assert [a.addr_spec for a in message["To"].addresses] == RECIPIENTS
    assert message["X-Timerack-Batch-Id"] == "B-1"


def test_attachment_lists_each_error_row_with_the_report_columns() -> None:
    # Given errors, one of them over two pay codes, and an assignment that went through
    batch = a_batch(
        created(1001),
        error(123, "The Assignment with an Id of 123 could not be found or is not currently visible."),
        error(1003, "The timecard for Assignment 1003 ... cannot be replaced.", "REG", "OT", employee_id=503),
    )
    # When the email is built
    message = as_received(build_error_file_message(batch, client_name="Acme", sender=SENDER, recipients=RECIPIENTS))
    # Then the CSV has the report.csv header and one row per error and pay code, nothing else
    rows = attachment_rows(message)
    assert tuple(rows[0]) == REPORT_HEADER
    assert rows[1:] == [
        [
            "123",
            "501",
            "REG",
            "2026-11-22",
            "error",
            "The Assignment with an Id of 123 could not be found or is not currently visible.",
        ],
        [
            "1003",
            "503",
            "REG",
            "2026-11-22",
            "error",
            "The timecard for Assignment 1003 ... cannot be replaced.",
        ],
        [
            "1003",
            "503",
            "OT",
            "2026-11-22",
            "error",
            "The timecard for Assignment 1003 ... cannot be replaced.",
        ],
    ]
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_filename() == "timerack-errors-ACME-1-2026-11-22.csv"


def test_attachment_neutralises_spreadsheet_formulas() -> None:
    # Given an error text and a pay code that a spreadsheet would run as formulas
    batch = a_batch(error(123, '=HYPERLINK("http://evil.example")', "+SUM(A1)"))
    # When the email is built
    rows = attachment_rows(
        as_received(build_error_file_message(batch, client_name="Acme", sender=SENDER, recipients=RECIPIENTS))
    )
    # Then both cells start with a quote and show as text
    assert rows[1][2] == "'+SUM(A1)"
    assert rows[1][5] == '\'=HYPERLINK("http://evil.example")'


def test_summary_has_counts_and_only_the_first_ten_errors() -> None:
    # Given twelve errors
    batch = a_batch(created(1), *(error(100 + n, f"problem {n}") for n in range(12)))
    # When the email is built
    message = as_received(build_error_file_message(batch, client_name="Acme", sender=SENDER, recipients=RECIPIENTS))
    body = message.get_body(preferencelist=("plain",)).get_content()
    # Then the summary names client, weekend bill and counts, lists ten errors and says how many more
    assert "Client: Acme (ACME-1)" in body
    assert "Weekend bill: 2026-11-22" in body
    assert "Assignments: 13  Created: 1  Replaced: 0  Errors: 12" in body
    assert "- Assignment 109 (employee 501; REG): problem 9" in body
    assert "problem 10" not in body
    assert "... and 2 more." in body
    # And the attachment still has all twelve
    assert len(attachment_rows(message)) == 13


def test_a_client_name_with_a_line_break_cannot_inject_headers() -> None:
    batch = a_batch(error(123, "not found"))
    message = as_received(
        build_error_file_message(
            batch, client_name="Acme\r\nBcc: spy@evil.example", sender=SENDER, recipients=RECIPIENTS
        )
    )
    assert message["Bcc"] is None
    assert message["Subject"].startswith("Timerack error file: Acme Bcc: spy@evil.example (ACME-1)")


def test_no_week_and_no_name_still_gives_a_clear_subject() -> None:
    batch = a_batch(
        AssignmentResult(assignment_id=123, status="error", error="There are currently no open weeks visible."),
        weekend_bill=None,
    )
    message = build_error_file_message(batch, client_name=None, sender=SENDER, recipients=RECIPIENTS)
    assert message["Subject"] == "Timerack error file: ACME-1, no week ending (1 error)"
    assert next(message.iter_attachments()).get_filename() == "timerack-errors-ACME-1-B-1.csv"


def test_reasons_not_to_mail() -> None:
    with_errors = a_batch(error(123, "not found"))
    on = PayrollEmail(client_key="ACME-1", recipients=RECIPIENTS, receive_error_file=True)
    assert reason_not_to_mail(with_errors, on) is None
    assert reason_not_to_mail(with_errors, on.model_copy(update={"receive_error_file": False})) == (
        "Receive Error File is off"
    )
    assert reason_not_to_mail(with_errors, on.model_copy(update={"recipients": []})) == "no payroll recipients"
    assert reason_not_to_mail(a_batch(created(1)), on) == "batch has no errors"
    processing = with_errors.model_copy(update={"status": "processing"})
    assert reason_not_to_mail(processing, on) == "batch not completed"


def test_stream_filter_keeps_completed_batches_with_errors_only() -> None:
    def record(sk: str, status: str, has_errors: bool, event_name: str = "MODIFY") -> dict:
        image = {"sk": {"S": sk}, "status": {"S": status}, "hasErrors": {"BOOL": has_errors}}
        return {"eventName": event_name, "dynamodb": {"NewImage": image}}

    assert is_error_file_record(record("BATCH", "completed", True))
    assert is_error_file_record(record("BATCH", "completed", True, "INSERT"))
    assert not is_error_file_record(record("BATCH", "processing", True))
    assert not is_error_file_record(record("BATCH", "completed", False))
    assert not is_error_file_record(record("MAILED", "completed", True))
    assert not is_error_file_record({"eventName": "REMOVE", "dynamodb": {}})
