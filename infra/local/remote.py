"""A small client for the Timerack Bridge API (the local stack or a deployed API URL)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class ApiClient:
    base_url: str
    token: str
    timeout: float = 300.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ApiClient:
        token = args.token
        if not token:
            from infra.local.cli import _state_dir
            from infra.local.tokens import issue_token, signing_key

            token = issue_token(signing_key(_state_dir()), args.principal)
        return cls(base_url=(args.api_url or "http://127.0.0.1:3000").rstrip("/"), token=token)

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
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            payload = error.read()
            try:
                return error.code, json.loads(payload)
            except ValueError:
                return error.code, {"message": payload.decode(errors="replace")}


def import_feed(args: argparse.Namespace) -> int:
    client = ApiClient.from_args(args)
    path: Path = args.file
    content = path.read_text(encoding="utf-8-sig")
    rows = max(content.count("\n") - 1, 0)
    print(f"Reading {path.name}: {rows} rows ...", file=sys.stderr)
    body = {
        "feedType": "Timerack Feed",
        "parentCustomerId": args.parent_customer,
        "weekendBill": args.weekend_bill,
        "fileName": path.name,
        "content": content,
    }
    suffix = "?dryRun=true" if args.dry_run else ""
    print(f"{'Checking' if args.dry_run else 'Importing'} against {client.base_url} ...", file=sys.stderr)
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
