"""The mailer's configuration, read from the environment and validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from timerack_bridge.config import ConfigurationError
from timerack_bridge.models import EmailAddress

_ENV = {
    "table_name": "TABLE_NAME",
    "sender_email": "SENDER_EMAIL",
    "email_outbox_dir": "EMAIL_OUTBOX_DIR",
    "configuration_set": "SES_CONFIGURATION_SET",
}


class MailerSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=1)
    # An address of the stack's SES identity (an address or a domain identity).
    sender_email: EmailAddress
    # Local runtime only: every sent message is also written here as {id}.eml.
    email_outbox_dir: Path | None = None
    configuration_set: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MailerSettings:
        env = os.environ if environ is None else environ
        values = {name: env[var] for name, var in _ENV.items() if env.get(var)}
        try:
            return cls(**values)
        except ValidationError as exc:
            names = sorted({_ENV[str(err["loc"][0])] for err in exc.errors() if err["loc"]})
            raise ConfigurationError(f"invalid or missing configuration: {', '.join(names)}") from exc
