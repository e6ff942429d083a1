"""Where a client's export goes: Timerack over HTTPS, an S3 file drop, or the local outbox.

Each destination takes what it needs (a URL and token, a boto3 S3 client, a folder) as arguments;
`destination_from_env` builds the configured one, and no client is built at import time.
"""

from __future__ import annotations

import functools
import http.client
import ipaddress
import os
import random
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from timerack_bridge import __version__
from timerack_bridge.config import ConfigurationError
from timerack_bridge.domain.export_models import ExportPayload
from timerack_bridge.domain.export_payload import import_template_csv

CLIENT_KEY_HEADER = "X-Timerack-Client-Key"


class DestinationError(Exception):
    """Sending one client's export failed. The message names the client and the cause, never the payload."""


class ExportDestination(ABC):
    """Receives one client's payload at a time; raises DestinationError when it could not be delivered."""

    name: str

    @abstractmethod
    def send(self, payload: ExportPayload) -> None: ...

    @property
    def longest_send_seconds(self) -> float:
        """The longest one send may take, retries included: a run starts no client with less time left."""
        return 30.0


# ------------------------------------------------------------------ HTTPS


class _TimedHTTPConnection(http.client.HTTPConnection):
    """`timeout` bounds the connect; once connected, each read waits at most `read_timeout`."""

    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self._read_timeout)


class _TimedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, read_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self._read_timeout)


class _TimedHandler(urllib.request.AbstractHTTPHandler):
    def __init__(self, read_timeout: float, ssl_context: ssl.SSLContext) -> None:
        super().__init__()
        self._read_timeout = read_timeout
        self._ssl_context = ssl_context

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_TimedHTTPConnection, read_timeout=self._read_timeout)
        return self.do_open(connection, req)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_TimedHTTPSConnection, read_timeout=self._read_timeout)
        return self.do_open(connection, req, context=self._ssl_context)

    http_request = urllib.request.AbstractHTTPHandler.do_request_
    https_request = urllib.request.AbstractHTTPHandler.do_request_


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


class HttpsDestination(ExportDestination):
    """One POST per client to Timerack, the client key in a header, retried with backoff and jitter.

    Retried: 5xx, 429, timeouts and connection errors. Not retried: any other 4xx (and 3xx: a POST
    is never silently redirected). The token is read through `token` on every send, so a rotated
    secret is picked up (the provider is expected to cache).
    """

    name = "https"

    def __init__(
        self,
        url: str,
        token: str | Callable[[], str],
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_attempts: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(url)
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname))
        ):
            raise ConfigurationError("TIMERACK_API_URL must be an https:// URL (http only for a loopback host)")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.url = url
        self._token = token
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        # Only what a POST needs: no proxy from the environment, no redirect turning the POST into a GET.
        self._opener = urllib.request.OpenerDirector()
        for handler in (
            _TimedHandler(read_timeout, ssl.create_default_context()),
            urllib.request.HTTPDefaultErrorHandler(),
            urllib.request.HTTPErrorProcessor(),
        ):
            self._opener.add_handler(handler)

    @property
    def longest_send_seconds(self) -> float:
        waits = sum(min(self.backoff_max, self.backoff_base * 2 ** (a - 1)) for a in range(1, self.max_attempts))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + waits

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential in the attempt number, half of it random ("equal jitter"), capped."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        delay = ceiling / 2 + random.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _token_value(self) -> str:
        return self._token() if callable(self._token) else self._token

    def _post_once(self, body: bytes, client_key: str) -> None:
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Authorization": f"Bearer {self._token_value()}",
                CLIENT_KEY_HEADER: client_key,
                "User-Agent": f"timerack-bridge/{__version__}",
            },
        )
        with self._opener.open(request, timeout=self.connect_timeout) as response:
            response.read()

    def send(self, payload: ExportPayload) -> None:
        body = payload.to_json().encode()
        last_cause = ""
        for attempt in range(1, self.max_attempts + 1):
            retry_after: float | None = None
            try:
                self._post_once(body, payload.client_key)
                return
            except urllib.error.HTTPError as exc:
                status = exc.code
                retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
                exc.close()
                if status < 500 and status != 429:
                    raise DestinationError(
                        f"Timerack refused the export of client {payload.client_key}: HTTP {status}"
                    ) from None
                last_cause = f"HTTP {status}"
            except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
                last_cause = type(exc).__name__
            except urllib.error.URLError as exc:
                last_cause = type(exc.reason).__name__ if isinstance(exc.reason, BaseException) else str(exc.reason)
            if attempt < self.max_attempts:
                self._sleep(self.backoff(attempt, retry_after))
        raise DestinationError(
            f"Timerack did not accept the export of client {payload.client_key} "
            f"after {self.max_attempts} attempts (last: {last_cause})"
        )


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


# ------------------------------------------------------------------ S3


class S3Destination(ExportDestination):
    """Timerack's assignment import template, a CSV per client and run: `{prefix}/{clientKey}/{stamp}.csv`."""

    name = "s3"

    def __init__(self, s3_client: Any, bucket: str, *, prefix: str = "exports") -> None:
        self.client = s3_client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def object_key(self, payload: ExportPayload) -> str:
        stamp = payload.generated_at.strftime("%Y%m%dT%H%M%SZ")
        return f"{self.prefix}/{payload.client_key}/{stamp}.csv"

    def send(self, payload: ExportPayload) -> None:
        key = self.object_key(payload)
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=import_template_csv(payload).encode("utf-8"),
                ContentType="text/csv; charset=utf-8",
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            raise DestinationError(f"S3 refused s3://{self.bucket}/{key}: {code}") from None
        except BotoCoreError as exc:
            raise DestinationError(
                f"S3 could not be reached for s3://{self.bucket}/{key}: {type(exc).__name__}"
            ) from None


# ------------------------------------------------------------------ local outbox


class OutboxDestination(ExportDestination):
    """The local runtime's stand-in for Timerack: `{root}/{clientKey}/latest.json`, replaced atomically."""

    name = "outbox"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path_for(self, client_key: str) -> Path:
        if client_key in ("", ".", "..") or "/" in client_key or os.sep in client_key:
            raise DestinationError(f"client key {client_key!r} cannot name an outbox folder")
        return self.root / client_key / "latest.json"

    def send(self, payload: ExportPayload) -> None:
        target = self.path_for(payload.client_key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # A reader never sees half a file: write beside the target, then rename over it.
            handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=".latest.", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as temp:
                    temp.write(payload.to_json())
                os.replace(temp_name, target)
            except BaseException:
                Path(temp_name).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DestinationError(f"the outbox for client {payload.client_key} could not be written: {exc}") from None


# ------------------------------------------------------------------ configuration


class ExportSettings(BaseModel):
    """The export's configuration, from the environment; what the chosen destination needs is required."""

    model_config = ConfigDict(frozen=True)

    destination: Literal["https", "s3", "outbox"]
    timerack_api_url: str | None = None
    timerack_api_token_secret_arn: str | None = None
    export_bucket: str | None = None
    export_outbox_dir: str | None = None
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=4, ge=1, le=10)

    @model_validator(mode="after")
    def _destination_needs(self) -> ExportSettings:
        needs = {
            "https": ("timerack_api_url", "timerack_api_token_secret_arn"),
            "s3": ("export_bucket",),
            "outbox": ("export_outbox_dir",),
        }[self.destination]
        missing = [_ENV[field] for field in needs if not getattr(self, field)]
        if missing:
            raise ValueError(f"EXPORT_DESTINATION={self.destination} needs {', '.join(missing)}")
        return self


_ENV = {
    "destination": "EXPORT_DESTINATION",
    "timerack_api_url": "TIMERACK_API_URL",
    "timerack_api_token_secret_arn": "TIMERACK_API_TOKEN_SECRET_ARN",
    "export_bucket": "EXPORT_BUCKET",
    "export_outbox_dir": "EXPORT_OUTBOX_DIR",
    "connect_timeout": "TIMERACK_CONNECT_TIMEOUT",
    "read_timeout": "TIMERACK_READ_TIMEOUT",
    "max_attempts": "TIMERACK_MAX_ATTEMPTS",
}


def export_settings_from_env(environ: Mapping[str, str] | None = None) -> ExportSettings:
    env = os.environ if environ is None else environ
    values = {field: env[var] for field, var in _ENV.items() if env.get(var)}
    try:
        return ExportSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{_ENV.get(str(err['loc'][0]), err['loc'][0])}: {err['msg']}" if err["loc"] else err["msg"]
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid or missing export configuration: {problems}") from None


def _secret_reader(secret_arn: str) -> Callable[[], str]:
    def read() -> str:
        from aws_lambda_powertools.utilities import parameters

        # Cached for five minutes per execution environment; a rotated token is picked up after that.
        return parameters.get_secret(secret_arn, max_age=300)

    return read


def destination_from_env(
    environ: Mapping[str, str] | None = None, *, s3_client: Any | None = None
) -> ExportDestination:
    """The destination EXPORT_DESTINATION names, from the environment; ConfigurationError when incomplete."""
    settings = export_settings_from_env(environ)
    if settings.destination == "https":
        assert settings.timerack_api_url and settings.timerack_api_token_secret_arn
        return HttpsDestination(
            settings.timerack_api_url,
            _secret_reader(settings.timerack_api_token_secret_arn),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            max_attempts=settings.max_attempts,
        )
    if settings.destination == "s3":
        assert settings.export_bucket
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Destination(s3_client, settings.export_bucket)
    assert settings.export_outbox_dir
    return OutboxDestination(settings.export_outbox_dir)


_configured: ExportDestination | None = None


def use_destination(destination: ExportDestination | None) -> None:
    """Make this what `configured_destination()` returns (the local runtime, tests); None resets it."""
    global _configured
    _configured = destination


def configured_destination() -> ExportDestination:
    """The destination set with `use_destination`, else the one the environment names (built once)."""
    global _configured
    if _configured is None:
        _configured = destination_from_env()
    return _configured
