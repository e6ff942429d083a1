"""Error-file emails ("Receive Error File"): completed batches with errors, from the stream, via SES."""

from timerack_bridge.mailer.config import MailerSettings
from timerack_bridge.mailer.exceptions import EmailSendError
from timerack_bridge.mailer.marker import Claim, MailMarkerStore, MarkerState
from timerack_bridge.mailer.message import build_error_file_message, reason_not_to_mail
from timerack_bridge.mailer.processor import ErrorFileMailer, batch_from_stream_image, process_stream_event
from timerack_bridge.mailer.ses import SesEmailSender, raw_bytes
from timerack_bridge.mailer.stream_filter import (
    ERROR_FILE_STREAM_FILTER,
    ERROR_FILE_STREAM_FILTERS,
    is_error_file_record,
    matches_pattern,
)

__all__ = [
    "ERROR_FILE_STREAM_FILTER",
    "ERROR_FILE_STREAM_FILTERS",
    "Claim",
    "EmailSendError",
    "ErrorFileMailer",
    "MailMarkerStore",
    "MailerSettings",
    "MarkerState",
    "SesEmailSender",
    "batch_from_stream_image",
    "build_error_file_message",
    "is_error_file_record",
    "matches_pattern",
    "process_stream_event",
    "raw_bytes",
    "reason_not_to_mail",
]
