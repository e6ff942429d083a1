"""The tenants (staffing agencies) declared in infra/tenants.json, validated before anything is built."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from infra.stack.constants import METRICS_NAMESPACE, STACK_PREFIX, TENANTS_FILE

# Log retentions CloudWatch accepts that make sense for payroll (days).
LOG_RETENTION_CHOICES = (30, 60, 90, 180, 365, 400, 545, 731, 1827, 2557)
_COGNITO_RESERVED = ("aws", "amazon", "cognito")
# An AWS account id, or the ARN of an IAM role (of any partition) in one.
TIMERACK_PRINCIPAL_PATTERN = r"^(\d{12}|arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})$"
# The tenant's log level as Lambda's advanced logging controls name it (the application log level).
APPLICATION_LOG_LEVELS = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR"}
# Cognito's limit on callback (and logout) URLs of one app client.
_MAX_PORTAL_URLS = 100


def _require_redirect_url(url: str) -> None:
    """An OAuth redirect URL Cognito accepts and a browser cannot be tricked with: https, a host, no fragment."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in url) or len(url) > 1024:
        raise ValueError(f"portal URL {url!r} must be an https URL with a host")
    if parts.fragment or "#" in url:
        raise ValueError(f"portal URL {url!r} may not carry a fragment (#...)")


class TenantConfigError(ValueError):
    """infra/tenants.json is missing, unreadable or invalid."""


class TenantConfig(BaseModel):
    """One tenant: one stack `TimerackBridge-<name>` in its own account and region."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,28}[a-z0-9]$")
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$")
    sender_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    export_destination: Literal["https", "s3"]
    # Timerack's API: needed (and only given to the stack) when the export posts to it (`https`).
    timerack_api_url: str | None = Field(default=None, pattern=r"^https://\S+$")
    # Who at Timerack reads the export bucket (`s3` only): an AWS account id or an IAM role ARN. The stack
    # grants it the bucket's objects and decryption with the tenant's key; absent, nobody outside the account.
    timerack_principal: str | None = Field(default=None, pattern=TIMERACK_PRINCIPAL_PATTERN)
    schedule: str = Field(default="rate(1 hour)", pattern=r"^(rate|cron)\(.+\)$")
    pay_codes: tuple[str, ...] = ("REG", "OT", "DT")
    # The agency's week-ending weekday: every weekend bill falls on it (the API refuses other dates).
    week_ending_day: Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"] = "Sunday"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_retention_days: int = 365
    api_rate_limit: int = Field(default=50, ge=1, le=10_000)
    api_burst_limit: int = Field(default=100, ge=1, le=5_000)
    # How many export workers send clients of the hourly run at once (the bulk lane's event source maximum
    # concurrency: Lambda allows 2..1000), so Timerack is never flooded.
    export_concurrency: int = Field(default=5, ge=2, le=1000)
    cognito_domain_prefix: str | None = Field(default=None, pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
    # The largest batch the API answers at once (its SYNC_BATCH_TIMECARDS); absent, the API's default. A larger
    # one (up to 20,000 timecards) is answered 202 and written by the intake worker. At most 10,000: about
    # 12 s of the API's 28 s at 1,024 MB and a reply far under Lambda's 6 MB (docs/benchmarks.md).
    sync_batch_timecards: int | None = Field(default=None, ge=1, le=10_000)
    termination_protection: bool = True
    # Where Cognito's managed login sends a TempWorks user back to the portal (code grant with PKCE).
    # Absent: the tenant has no portal yet, and the stack makes no portal app client.
    portal_callback_urls: tuple[str, ...] = ()
    portal_logout_urls: tuple[str, ...] = ()

    @field_validator("pay_codes")
    @classmethod
    def _pay_codes_upper_and_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(code.strip().upper() for code in value)
        if not codes or any(not re.fullmatch(r"[A-Z0-9]{1,10}", code) for code in codes):
            raise ValueError("pay codes are 1-10 letters or digits")
        if len(set(codes)) != len(codes):
            raise ValueError("pay codes must be unique")
        return codes

    @field_validator("log_retention_days")
    @classmethod
    def _known_retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_CHOICES:
            raise ValueError(f"log retention must be one of {LOG_RETENTION_CHOICES}")
        return value

    @field_validator("portal_callback_urls", "portal_logout_urls")
    @classmethod
    def _portal_urls_https(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            _require_redirect_url(url)
        if len(set(value)) != len(value):
            raise ValueError("portal URLs must be unique")
        if len(value) > _MAX_PORTAL_URLS:
            raise ValueError(f"at most {_MAX_PORTAL_URLS} portal URLs")
        return value

    @model_validator(mode="after")
    def _portal_callbacks_when_logouts(self) -> TenantConfig:
        if "portal_callback_urls" in self.model_fields_set and not self.portal_callback_urls:
            raise ValueError("portalCallbackUrls, when present, needs at least one URL")
        if self.portal_logout_urls and not self.portal_callback_urls:
            raise ValueError("portalLogoutUrls needs portalCallbackUrls: the logout URLs belong to the portal")
        return self

    @model_validator(mode="after")
    def _destination_settings(self) -> TenantConfig:
        if self.export_destination == "https" and not self.timerack_api_url:
            raise ValueError("exportDestination https needs timerackApiUrl")
        if self.export_destination != "https" and self.timerack_api_url:
            raise ValueError("timerackApiUrl is for exportDestination https only: an s3 tenant never calls Timerack")
        if self.timerack_principal and self.export_destination != "s3":
            raise ValueError("timerackPrincipal reads the export bucket: it needs exportDestination s3")
        return self

    @property
    def resource_prefix(self) -> str:
        """What every name the tenant's resources carry in the account starts with: `TimerackBridge-<name>`."""
        return f"{STACK_PREFIX}-{self.name}"

    @property
    def metrics_namespace(self) -> str:
        """The CloudWatch namespace of the functions' own metrics (Powertools): one per tenant."""
        return f"{METRICS_NAMESPACE}/{self.name}"

    def service_name(self, function: str) -> str:
        """Powertools' service (the `service` dimension of every metric, and the log's service) of a function."""
        return f"timerack-{self.name}-{function}"

    @property
    def application_log_level(self) -> str:
        return APPLICATION_LOG_LEVELS[self.log_level]

    @property
    def has_portal(self) -> bool:
        """Whether the tenant's users sign in through a portal (Cognito's managed login)."""
        return bool(self.portal_callback_urls)

    @model_validator(mode="after")
    def _domain_prefix_allowed(self) -> TenantConfig:
        if any(word in self.domain_prefix for word in _COGNITO_RESERVED):
            raise ValueError(
                f"Cognito domain prefix {self.domain_prefix!r} may not contain {_COGNITO_RESERVED}; "
                "set cognitoDomainPrefix"
            )
        return self

    @property
    def domain_prefix(self) -> str:
        """The Cognito hosted domain prefix: unique per region, so it carries the account id."""
        return self.cognito_domain_prefix or f"timerack-{self.name}-{self.account}"


class TenantsFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenants: tuple[TenantConfig, ...] = Field(min_length=1)

    @field_validator("tenants")
    @classmethod
    def _unique_names(cls, value: tuple[TenantConfig, ...]) -> tuple[TenantConfig, ...]:
        names = [tenant.name for tenant in value]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"tenant names must be unique: {duplicates}")
        return value


def load_tenants(path: Path = TENANTS_FILE) -> tuple[TenantConfig, ...]:
    """Read and validate the tenants file; raise TenantConfigError saying what is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise TenantConfigError(f"cannot read tenants from {path}: {exc}") from exc
    try:
        return TenantsFile.model_validate(raw).tenants
    except ValidationError as exc:
        raise TenantConfigError(f"invalid tenants in {path}:\n{exc}") from exc
