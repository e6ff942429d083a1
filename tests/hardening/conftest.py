"""Fixtures of the hardening suite: a local runtime of its own (fuzzed freely), and table snapshots.

The runtime is started as a user starts it (`timerack-bridge run`, demo data), on a free port, with
its own state directory and log file, so the fuzzing here never disturbs the e2e suite's stack.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import LocalStack


class HardeningStack(LocalStack):
    """The e2e LocalStack, plus a view of its tables through the moto stand-in it runs."""

    def runtime(self) -> dict[str, str]:
        return json.loads((self.state_dir / "runtime.json").read_text())

    def dynamodb(self) -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=self.runtime()["motoUrl"],
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def items(self) -> list[dict[str, Any]]:
        """Every item of the main table (the stand-in holds demo data only, so a scan is small)."""
        client, table = self.dynamodb(), self.runtime()["tableName"]
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table}
        while True:
            page = client.scan(**kwargs)
            found.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def snapshot(self) -> set[str]:
        """The table as comparable text, without what background work writes on its own: the export's
        lock (the schedule) and the mailer's markers (fed from the stream, seconds after a batch)."""
        return {
            json.dumps(i, sort_keys=True, default=repr)
            for i in self.items()
            if not i["pk"]["S"].startswith("EXPORT") and i["sk"]["S"] != "MAILED"
        }

    def signing_key(self) -> bytes:
        from local.tokens import signing_key

        return signing_key(self.state_dir)

    def token(self, principal: str, admin: bool = False, **claims: Any) -> str:
        """A token signed with the runtime's key, in-process (the CLI is tested by the e2e suite)."""
        from local.tokens import issue_token

        return issue_token(self.signing_key(), principal, admin=admin, **claims)


def table_snapshot(services: Any) -> set[str]:
    """Every item of the in-process (moto) main table as comparable text: to show nothing was written."""
    client, table = services.dynamodb, services.settings.table_name
    found: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        found |= {json.dumps(item, sort_keys=True, default=repr) for item in page["Items"]}
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def start_stack(state_dir: Path) -> HardeningStack:
    from tests.e2e.conftest import start_stack as start_local_stack

    stack = start_local_stack(state_dir, HardeningStack)
    assert isinstance(stack, HardeningStack)
    return stack


def stop_stack(stack: HardeningStack) -> None:
    from tests.e2e.conftest import stop_stack as stop_local_stack

    stop_local_stack(stack)


@pytest.fixture(scope="session")
def hardening_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HardeningStack]:
    stack = start_stack(tmp_path_factory.mktemp("hardening-state"))
    yield stack
    stop_stack(stack)
