"""Configuration: a pydantic model read from the environment once, failing loudly when incomplete."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class ConfigurationError(RuntimeError):
    """A required environment variable is missing or invalid."""


WeekEndingDay = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=1)
    idempotency_table_name: str = Field(min_length=1)
    pay_codes: tuple[str, ...] = ("REG", "OT", "DT")
    max_batch_timecards: int = 5000
    max_body_bytes: int = 5 * 1024 * 1024
    write_parallelism: int = Field(default=8, ge=1, le=64)
    idempotency_ttl_seconds: int = 3600
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


_ENV = {
    "table_name": "TABLE_NAME",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
    "pay_codes": "PAY_CODES",
    "max_batch_timecards": "MAX_BATCH_TIMECARDS",
    "max_body_bytes": "MAX_BODY_BYTES",
    "write_parallelism": "WRITE_PARALLELISM",
    "idempotency_ttl_seconds": "IDEMPOTENCY_TTL_SECONDS",
    "week_ending_day": "WEEK_ENDING_DAY",
}


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    values = {field: env[var] for field, var in _ENV.items() if var in env}
    try:
        return Settings(**values)
    except ValidationError as exc:
        missing = [_ENV[str(err["loc"][0])] for err in exc.errors() if err["loc"]]
        raise ConfigurationError(f"invalid or missing configuration: {', '.join(missing)}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return settings_from_env()
