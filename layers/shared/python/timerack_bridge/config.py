"""Configuration: one settings model per function, read from the environment once, at cold start.

Each field is the environment variable of the same name in upper case (`table_name` is TABLE_NAME).
A missing or malformed variable raises ConfigurationError naming it, so the function fails its init.
README's Configuration table is tested against these models (tests/unit/test_configuration.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from timerack_bridge.domain.email_address import EmailAddress


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or invalid."""


WeekEndingDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
DestinationName = Literal["https", "s3", "outbox"]


class _FromEnvironment(BaseModel):
    # A plain pydantic model read from a mapping: pydantic is loaded at every cold start anyway, while
    # pydantic-settings' sources cost ~70 ms more of init (docs/benchmarks.md) for what a dict lookup does.
    # Built when first validated: a function's init builds its own model, not the other functions'.
    model_config = ConfigDict(frozen=True, defer_build=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings the environment gives; ConfigurationError naming every bad or missing variable."""
        env = os.environ if environ is None else environ
        # An empty variable counts as unset (CloudFormation writes "" for an absent optional value).
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigurationError(f"invalid or missing configuration: {_problems(exc)}") from None

    @classmethod
    def variables(cls) -> list[str]:
        """The environment variables this model reads."""
        return [name.upper() for name in cls.model_fields]


def _problems(exc: ValidationError) -> str:
    """The variables at fault, sorted and named as set; a rule across variables as its message."""
    names = sorted({str(err["loc"][0]).upper() for err in exc.errors() if err["loc"]})
    rules = [str(err["msg"]).removeprefix("Value error, ") for err in exc.errors() if not err["loc"]]
    return "; ".join(filter(None, [", ".join(names), *rules]))


class TableSettings(_FromEnvironment):
    table_name: str = Field(min_length=1)


class DestinationSettings(_FromEnvironment):
    """Where an export goes; what the chosen destination needs is required."""

    export_destination: DestinationName
    # https only (plain http only to a loopback host): a token is never sent in the clear.
    timerack_api_url: str | None = Field(
        default=None, pattern=r"^(https://[^/\s]+|http://(localhost|127\.[0-9.]+|\[::1\])(:[0-9]+)?)(/\S*)?$"
    )
    timerack_api_token_secret_arn: str | None = None
    export_bucket: str | None = None
    export_outbox_dir: str | None = None
    timerack_connect_timeout: float = Field(default=5.0, gt=0)
    timerack_read_timeout: float = Field(default=30.0, gt=0)
    timerack_max_attempts: int = Field(default=4, ge=1, le=10)

    @model_validator(mode="after")
    def _destination_needs(self) -> Self:
        needs = {
            "https": ("timerack_api_url", "timerack_api_token_secret_arn"),
            "s3": ("export_bucket",),
            "outbox": ("export_outbox_dir",),
        }[self.export_destination]
        missing = [field.upper() for field in needs if not getattr(self, field)]
        if missing:
            raise ValueError(f"EXPORT_DESTINATION={self.export_destination} needs {', '.join(missing)}")
        return self


class ExportQueueSettings(_FromEnvironment):
    """The export queue's two lanes (SQS queue URLs): many clients go on the bulk lane, one on the priority lane."""

    export_queue_url: str = Field(min_length=1)
    export_priority_queue_url: str = Field(min_length=1)
    # Recorded on each run: where the workers send (https, s3, outbox).
    export_destination: DestinationName


class IntakeRulesSettings(_FromEnvironment):
    """What a batch is checked and written by: the API (synchronous batches) and the intake worker alike."""

    # Comma-separated in the environment ("REG,OT,DT"), not JSON.
    pay_codes: tuple[str, ...] = ("REG", "OT", "DT")
    write_parallelism: int = Field(default=8, ge=1, le=64)
    # The weekday every weekend bill falls on: an agency setting (TempWorks' week-ending day).
    week_ending_day: WeekEndingDay = "Sunday"

    @field_validator("pay_codes", mode="before")
    @classmethod
    def _split_pay_codes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(code.strip().upper() for code in value.split(",") if code.strip())
        return value

    @field_validator("week_ending_day", mode="before")
    @classmethod
    def _title_case_day(cls, value: object) -> object:
        return value.strip().title() if isinstance(value, str) else value


class ApiSettings(TableSettings, ExportQueueSettings, IntakeRulesSettings):
    """The API function. POST /v1/exports and saved admin changes queue clients; the API never sends one."""

    idempotency_table_name: str = Field(min_length=1)
    # How long a saved change waits on the queue before its client is exported: the changes saved
    # meanwhile go with it (the debounce of a burst of admin PUTs).
    export_change_delay_seconds: int = Field(default=10, ge=0, le=900)
    # The export dispatcher function (its name or ARN; the stack sets it): POST /v1/exports of many clients
    # records the run and hands its dispatch to it (an async invoke). Unset: such a run is refused (503;
    # one client is queued by the API itself); the local runtime and the tests hand in their own starter.
    export_dispatcher_function: str | None = Field(default=None, min_length=1, max_length=170)
    # The largest batch answered at once (200), within API Gateway's 29 s (docs/benchmarks.md's model); a
    # larger one is stored and answered 202, and the intake worker writes it. A manual import is never larger.
    sync_batch_timecards: int = Field(default=5_000, ge=1, le=10_000)
    # The most timecards one batch may carry: over it a 413 naming it.
    max_batch_timecards: int = Field(default=20_000, ge=1)
    # The largest request body or uploaded batch (API Gateway's 10 MB): over it a 413 naming it. A body whose
    # proxy event would pass Lambda's 6 MB (about 5 MB) comes through POST /v1/timecard-batches/uploads.
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # Where a batch over SYNC_BATCH_TIMECARDS is kept for the intake worker (S3), and the worker's queue
    # (SQS). Unset: such a batch is refused (413 naming SYNC_BATCH_TIMECARDS). The stack sets both.
    intake_bucket: str | None = Field(default=None, min_length=1)
    intake_queue_url: str | None = Field(default=None, min_length=1)
    idempotency_ttl_seconds: int = 3600

    @model_validator(mode="after")
    def _sync_within_max(self) -> Self:
        if self.sync_batch_timecards > self.max_batch_timecards:
            raise ValueError("SYNC_BATCH_TIMECARDS may not be larger than MAX_BATCH_TIMECARDS")
        return self


class ExportSettings(TableSettings, ExportQueueSettings):
    """The export dispatcher: the hourly run and a direct invoke queue clients; it never sends one."""


class ExportWorkerSettings(TableSettings, DestinationSettings):
    """The export worker: one client per queue message, sent to the destination."""

    export_queue_url: str = Field(min_length=1)
    export_priority_queue_url: str = Field(min_length=1)
    # The queues' redrive maxReceiveCount: the attempt that fails at this count goes to the dead-letter queue.
    export_max_receives: int = Field(default=5, ge=1, le=1000)
    # A client's lease: longer than one invocation of the worker, so a worker never outlives its lease.
    export_lease_seconds: int = Field(default=240, ge=30, le=3600)


class IntakeWorkerSettings(TableSettings, IntakeRulesSettings):
    """The intake worker: one accepted batch per queue message, written as the API writes a smaller one."""

    # The accepted bodies (intake/{batchId}.json.gz) and big batches' results (results/{batchId}-{sha}.json.gz).
    intake_bucket: str = Field(min_length=1)
    # Its own queue (SQS): the sweep queues again a batch accepted but never picked up.
    intake_queue_url: str = Field(min_length=1)
    # The queue's redrive maxReceiveCount: the attempt that fails at this count marks the batch failed.
    intake_max_receives: int = Field(default=3, ge=1, le=1000)


class MailerSettings(TableSettings):
    """The mailer function."""

    # Where a batch too big for its Payroll History item keeps its results (unset: every batch's are inline).
    intake_bucket: str | None = Field(default=None, min_length=1)

    # An address of the stack's SES identity (an address or a domain identity).
    sender_email: EmailAddress
    # Local runtime only: every sent message is also written here as {id}.eml.
    email_outbox_dir: Path | None = None
    ses_configuration_set: str | None = None


FUNCTION_SETTINGS: dict[str, type[_FromEnvironment]] = {
    "api": ApiSettings,
    "export": ExportSettings,
    "export_worker": ExportWorkerSettings,
    "intake_worker": IntakeWorkerSettings,
    "mailer": MailerSettings,
}
