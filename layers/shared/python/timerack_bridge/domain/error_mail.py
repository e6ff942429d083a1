"""The error-file email, built without AWS: a plain-text summary and the CSV error file attached."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from timerack_bridge.domain.batch import BatchResult
from timerack_bridge.domain.entities import PayrollEmail
from timerack_bridge.domain.report import render_csv

MAX_LISTED_ERRORS = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _one_line(text: str) -> str:
    """Control characters (newlines included) collapsed to a space: safe in a header and a summary line."""
    return _CONTROL.sub(" ", text).strip()


def reason_not_to_mail(batch: BatchResult, settings: PayrollEmail) -> str | None:
    """Why this batch gets no error file, or None when it does."""
    if batch.status != "completed":
        return "batch not completed"
    if batch.counts.errors == 0 and not any(r.status == "error" for r in batch.results):
        return "batch has no errors"
    if not settings.receive_error_file:
        return "Receive Error File is off"
    if not settings.recipients:
        return "no payroll recipients"
    return None


def week_ending(batch: BatchResult) -> date | None:
    """The batch's weekend bill, else the first one a result carries (none when no week was open)."""
    if batch.weekend_bill:
        return batch.weekend_bill
    return next((r.weekend_bill for r in batch.results if r.weekend_bill), None)


def subject_line(batch: BatchResult, client_name: str | None) -> str:
    client = _client_label(batch.client_key, client_name)
    ending = week_ending(batch)
    week = f"week ending {ending.isoformat()}" if ending else "no week ending"
    errors = batch.counts.errors
    return f"Timerack error file: {client}, {week} ({errors} error{'s' if errors != 1 else ''})"


def attachment_filename(batch: BatchResult) -> str:
    ending = week_ending(batch)
    # The client key is [A-Za-z0-9._-] by contract, so the name needs no further quoting.
    return f"timerack-errors-{batch.client_key}-{ending.isoformat() if ending else batch.batch_id}.csv"


def summary_text(batch: BatchResult, client_name: str | None, *, max_listed: int = MAX_LISTED_ERRORS) -> str:
    """The plain-text body: client, weekend bill, counts and the first errors."""
    ending = week_ending(batch)
    counts = batch.counts
    errors = [r for r in batch.results if r.status == "error"]
    lines = [
        "A batch of timecards sent from Timerack to TempWorks has errors.",
        "",
        f"Client: {_client_label(batch.client_key, client_name)}",
        f"Weekend bill: {ending.isoformat() if ending else 'none (no open week)'}",
        f"Batch: {batch.batch_id}",
        f"Submitted: {batch.submitted_at.isoformat()}",
        f"Source: {'Timerack Feed import' if batch.source == 'manual-import' else 'Send to TempWorks'}",
        "",
        f"Assignments: {counts.assignments}  Created: {counts.created}  Replaced: {counts.replaced}"
        f"  Errors: {counts.errors}",
        "",
        "Errors:" if len(errors) <= max_listed else f"First {max_listed} of {len(errors)} errors:",
    ]
    for result in errors[:max_listed]:
        detail = [f"employee {result.employee_id}"] if result.employee_id is not None else []
        if result.pay_codes:
            detail.append(", ".join(_one_line(code) for code in result.pay_codes))
        suffix = f" ({'; '.join(detail)})" if detail else ""
        lines.append(f"- Assignment {result.assignment_id}{suffix}: {_one_line(result.error or 'error')}")
    if len(errors) > max_listed:
        lines.append(f"... and {len(errors) - max_listed} more.")
    lines += [
        "",
        "The attached CSV lists every assignment with an error (the columns of the Payroll History report).",
        "Correct them in Timerack and send the batch again.",
        "",
    ]
    return "\n".join(lines)


def build_error_file_message(
    batch: BatchResult,
    *,
    client_name: str | None,
    sender: str,
    recipients: Sequence[str],
    now: datetime | None = None,
) -> EmailMessage:
    """The whole email: headers, summary body and `render_csv(results, errors_only=True)` attached."""
    message = EmailMessage()
    message["Subject"] = subject_line(batch, client_name)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message["X-Timerack-Batch-Id"] = batch.batch_id
    message.set_content(summary_text(batch, client_name))
    message.add_attachment(
        render_csv(batch.results, errors_only=True).encode("utf-8"),
        maintype="text",
        subtype="csv",
        filename=attachment_filename(batch),
    )
    return message


def _client_label(client_key: str, client_name: str | None) -> str:
    name = _one_line(client_name or "")
    return f"{name} ({client_key})" if name and name != client_key else client_key


def raw_bytes(message: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends)."""
    return message.as_bytes(policy=policy.SMTP)
