"""A small client for the Timerack Bridge API (the running local runtime, or a deployed API URL)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.config import LocalError, local_api_url, state_dir
from local.tokens import issue_token


@dataclass
class ApiClient:
    base_url: str
    token: str
    timeout: float = 300.0

    @classmethod
    def for_caller(cls, api_url: str | None, token: str | None, principal: str, *, admin: bool = False) -> ApiClient:
        """The API named (else the running local runtime), as `token` (else one the local runtime signs,
        with the admin scope for `admin`); LocalError at once when it does not answer its health check."""
        client = cls(base_url=local_api_url(api_url), token=token or _local_token(principal, admin=admin))
        client.call("GET", "/v1/health")
        return client

    def call(self, method: str, path: str, body: Any | None = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the URL is the API the user named
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, _json_or_text(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json_or_text(error.read())
        except (TimeoutError, urllib.error.URLError, ConnectionError) as error:
            raise LocalError(self._unreachable(error)) from None

    def _unreachable(self, error: Exception) -> str:
        reason = getattr(error, "reason", error)
        if self.base_url.startswith(("http://127.0.0.1", "http://localhost")):
            return (
                f"no local runtime answers on {self.base_url} ({reason}): start one with `make run`, "
                "or set TIMERACK_STATE_DIR / TIMERACK_PORT to the one that runs"
            )
        return f"{self.base_url} does not answer: {reason}"


def _json_or_text(payload: bytes) -> Any:
    try:
        return json.loads(payload or b"null")
    except ValueError:
        return {"message": payload.decode(errors="replace")[:500]}


def _local_token(principal: str, *, admin: bool = False) -> str:
    """A token signed with the local runtime's key; the key is never made here (only a runtime makes it)."""
    from local.tokens import signing_key

    directory = state_dir()
    if not (directory / "signing-key").exists():
        raise LocalError(
            f"no local runtime has run with its state in {directory} (no signing-key there): "
            "start one with `make run`, set TIMERACK_STATE_DIR, or pass --token"
        )
    return issue_token(signing_key(directory), principal, admin=admin)


def read_feed(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LocalError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalError(f"{path} cannot be read as UTF-8 text: {exc}") from None


def import_feed(client: ApiClient, path: Path, parent_customer: int, weekend_bill: str, dry_run: bool) -> int:
    content = read_feed(path)
    rows = max(content.count("\n") - 1, 0)
    print(f"Reading {path.name}: {rows} rows ...", file=sys.stderr)
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": parent_customer,
        "weekendBill": weekend_bill,
        "fileName": path.name,
        "content": content,
    }
    suffix = "?dryRun=true" if dry_run else ""
    print(f"{'Checking' if dry_run else 'Importing'} against {client.base_url} ...", file=sys.stderr)
    status, reply = client.call("POST", "/v1/timecard-imports" + suffix, body)
    print(json.dumps(reply, indent=2))
    print(import_summary(status, reply), file=sys.stderr)
    return 0 if status == 200 else 1


def import_summary(status: int, reply: Any) -> str:
    """One line after the JSON: imported whole, nothing written, or (a race) partly written."""
    if not isinstance(reply, dict) or not isinstance(reply.get("rowErrors"), list):
        message = reply.get("message", "") if isinstance(reply, dict) else reply
        return f"Refused ({status}): {message}"
    failing = len({e.get("row") for e in reply["rowErrors"]})
    if status == 200:
        done = "Imported the whole file" if reply.get("imported") else "Checked: the whole file can be imported"
        return f"{done} ({reply.get('rows')} rows)"
    if status == 422:
        return f"Not imported, nothing written: {failing} row(s) fail, listed in rowErrors with the reason"
    return f"Partly imported ({status}): {failing} row(s) changed while importing and were not written (rowErrors)"


def export_through_api(client: ApiClient, client_key: str | None) -> int:
    """POST /v1/exports (202: the run is queued), then GET /v1/exports/{runId} until the run is finished."""
    from local.export_now import ProgressBar, watch_run

    body = {"clientKey": client_key} if client_key else {}
    print(f"Exporting {'client ' + client_key if client_key else 'every client'} ...", file=sys.stderr)
    status, reply = client.call("POST", "/v1/exports", body)
    if status != 202 or not isinstance(reply, dict) or "runId" not in reply:
        print(json.dumps(reply, indent=2))
        message = reply.get("message", "") if isinstance(reply, dict) else reply
        print(f"Refused ({status}): {message}", file=sys.stderr)
        return 1
    path = f"/v1/exports/{reply['runId']}?limit=200"
    detail: dict[str, Any] = {}

    def read() -> Any:
        nonlocal detail
        got, detail = client.call("GET", path)
        if got != 200:
            raise LocalError(f"reading the run {reply['runId']} was refused ({got}): {detail}")
        return run_summary(detail)

    summary = watch_run(read, ProgressBar())
    print(json.dumps(detail, indent=2))
    return 0 if summary.counts.failed == 0 else 1


def run_summary(reply: dict[str, Any]) -> Any:
    """The run's summary from `GET /v1/exports/{runId}` (its clients and page token left aside)."""
    from timerack_bridge.domain.export_models import ExportRunSummary

    fields = {field.alias or name for name, field in ExportRunSummary.model_fields.items()}
    return ExportRunSummary.model_validate({name: value for name, value in reply.items() if name in fields})
