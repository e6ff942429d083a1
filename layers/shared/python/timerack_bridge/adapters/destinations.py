"""Where a client's export goes: Timerack over HTTPS, an S3 file drop, or the local outbox.

Each destination takes what it needs (a URL and token, a boto3 S3 client, a folder) as arguments;
`destination_for` builds the one a function's settings name, and no client is built at import time.
"""

from __future__ import annotations

import ipaddress
import os
import random
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, Self
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from urllib3 import BaseHTTPResponse, PoolManager, Retry, Timeout
from urllib3.exceptions import HTTPError, MaxRetryError

from timerack_bridge import __version__
from timerack_bridge.domain.export_models import ExportPayload
from timerack_bridge.domain.export_payload import import_template_csv
from timerack_bridge.logic.ports import DestinationError

CLIENT_KEY_HEADER = "X-Timerack-Client-Key"


class PermanentDestinationError(DestinationError):
    """A send that can never succeed as things stand (Timerack refused the request itself: HTTP 400, 401,
    403, ...; the API token was never set): trying again cannot help, so the export worker does not.
    `permanent` is what the worker looks at (its logic does not import the adapters)."""

    permanent = True


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


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _root_cause(error: BaseException) -> str:
    """The innermost cause's name (TimeoutError, ConnectionRefusedError): what went wrong on the wire."""
    while (inner := error.__cause__ or error.__context__) is not None:
        error = inner
    return type(error).__name__


class TimerackRetry(Retry):
    """urllib3's Retry with the export's pause: exponential, half of it random ("equal jitter"), capped;
    a Retry-After is honoured up to the same cap; `pause` is injectable so tests need not wait."""

    def __init__(self, *args: Any, pause: Callable[[float], None] = time.sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pause = pause

    def new(self, **kw: Any) -> Self:
        return super().new(pause=self.pause, **kw)

    def get_backoff_time(self) -> float:
        ceiling = min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        delay = self.get_backoff_time()
        retry_after = _retry_after(response.headers.get("Retry-After")) if response is not None else None
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        self.pause(delay)


# What the stack puts into the Timerack token secret at deploy: a send refuses it, so a tenant whose admin
# has not yet put the real token fails loudly (each client failed, the alarms fire) instead of sending
# an invalid token to Timerack every hour.
TOKEN_PLACEHOLDER = "REPLACE-WITH-THE-TIMERACK-API-TOKEN"  # noqa: S105 - a placeholder, refused


class HttpsDestination(ExportDestination):
    """One POST per client to Timerack, the client key in a header, retried with backoff and jitter.

    Retried: 5xx, 429, timeouts and connection errors. Not retried: any other 4xx (and 3xx: a POST
    is never silently redirected). A 4xx other than 408 and 429, and a token never set, can never
    succeed: PermanentDestinationError. The token is read through `token` on every send, so a rotated
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
            raise ValueError("the Timerack URL must be an https:// URL (http only for a loopback host)")
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
        # No proxy from the environment (urllib3 reads none); the system's CA store verifies the certificate.
        self._pool = PoolManager(timeout=Timeout(connect=connect_timeout, read=read_timeout), retries=False)

    @property
    def longest_send_seconds(self) -> float:
        """Every attempt timing out, and each wait between two as long as a Retry-After may make it
        (backoff_max, whatever the backoff would be)."""
        waits = (self.max_attempts - 1) * self.backoff_max
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + waits

    def retry(self) -> TimerackRetry:
        """One send's retries: the POST itself is retried (urllib3 retries no POST by default)."""
        return TimerackRetry(
            total=self.max_attempts - 1,
            redirect=False,
            allowed_methods=None,
            status_forcelist=_RETRIED_STATUSES,
            raise_on_status=False,
            backoff_factor=self.backoff_base,
            backoff_max=self.backoff_max,
            pause=self._sleep,
        )

    def _token_value(self, client_key: str) -> str:
        token = self._token() if callable(self._token) else self._token
        if not token.strip() or token.strip() == TOKEN_PLACEHOLDER:
            # Nothing is sent: Timerack would answer 401, hour after hour, and nothing would say why.
            raise PermanentDestinationError(
                f"the export of client {client_key} was not sent: the Timerack API token is not set (the secret "
                "still holds the placeholder the stack created); put the token Timerack issued into the secret "
                "TimerackApiTokenSecretArn names"
            )
        return token

    def send(self, payload: ExportPayload) -> None:
        token = self._token_value(payload.client_key)
        try:
            response = self._pool.request(
                "POST",
                self.url,
                body=payload.to_json().encode(),
                headers={
                    "Content-Type": "application/json",
                    "Accept": "application/json",
                    "Authorization": f"Bearer {token}",
                    CLIENT_KEY_HEADER: payload.client_key,
                    "User-Agent": f"timerack-bridge/{__version__}",
                },
                retries=self.retry(),
                redirect=False,
            )
        except HTTPError as exc:
            cause = _root_cause(exc.reason) if isinstance(exc, MaxRetryError) and exc.reason else _root_cause(exc)
            raise self._gave_up(payload, cause) from None
        if 200 <= response.status < 300:
            return
        if response.status in _RETRIED_STATUSES:
            raise self._gave_up(payload, f"HTTP {response.status}")
        refused = f"Timerack refused the export of client {payload.client_key}: HTTP {response.status}"
        if 400 <= response.status < 500 and response.status != 408:
            raise PermanentDestinationError(refused)  # the request itself is refused: the same one always is
        raise DestinationError(refused)

    def _gave_up(self, payload: ExportPayload, cause: str) -> DestinationError:
        return DestinationError(
            f"Timerack did not accept the export of client {payload.client_key} "
            f"after {self.max_attempts} attempts (last: {cause})"
        )


# Retried with backoff: Timerack busy (429) or failing (5xx).
_RETRIED_STATUSES = frozenset({429, *range(500, 600)})


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
            raise PermanentDestinationError(f"client key {client_key!r} cannot name an outbox folder")
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


def _secret_reader(secret_arn: str) -> Callable[[], str]:
    def read() -> str:
        from aws_lambda_powertools.utilities import parameters

        # Cached for five minutes per execution environment; a rotated token is picked up after that.
        return parameters.get_secret(secret_arn, max_age=300)

    return read


class DestinationConfig(Protocol):
    """What a destination is built from: the export part of a function's settings."""

    @property
    def export_destination(self) -> str: ...
    @property
    def timerack_api_url(self) -> str | None: ...
    @property
    def timerack_api_token_secret_arn(self) -> str | None: ...
    @property
    def export_bucket(self) -> str | None: ...
    @property
    def export_outbox_dir(self) -> str | None: ...
    @property
    def timerack_connect_timeout(self) -> float: ...
    @property
    def timerack_read_timeout(self) -> float: ...
    @property
    def timerack_max_attempts(self) -> int: ...


def destination_for(settings: DestinationConfig, *, s3_client: Any | None = None) -> ExportDestination:
    """The destination EXPORT_DESTINATION names, built from the function's settings (the composition root)."""
    if settings.export_destination == "https":
        assert settings.timerack_api_url and settings.timerack_api_token_secret_arn
        return HttpsDestination(
            settings.timerack_api_url,
            _secret_reader(settings.timerack_api_token_secret_arn),
            connect_timeout=settings.timerack_connect_timeout,
            read_timeout=settings.timerack_read_timeout,
            max_attempts=settings.timerack_max_attempts,
        )
    if settings.export_destination == "s3":
        assert settings.export_bucket
        if s3_client is None:
            import boto3

            s3_client = boto3.client("s3")
        return S3Destination(s3_client, settings.export_bucket)
    assert settings.export_outbox_dir
    return OutboxDestination(settings.export_outbox_dir)
