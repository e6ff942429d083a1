"""Shared fixtures: moto-backed services, an API caller through the real handler, a standard agency."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

# The service name every logger reads at import (the handlers' and the modules' child loggers alike), as the
# stack sets it per function: set before any product module is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "timerack-bridge")

EVENTS = Path(__file__).resolve().parent.parent / "events"
WEEKEND_BILL = date(2026, 11, 22)  # a Sunday
CLIENT_KEY = "ACME-1"
PRINCIPAL = "timerack-portal"


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_METRICS_NAMESPACE": "TimerackBridge",
        "POWERTOOLS_SERVICE_NAME": "timerack-bridge",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def cold_start(module: str) -> ModuleType:
    """A function's handler module imported afresh, as Lambda's init imports it (not the cached one)."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.loader is not None, module
    fresh = importlib.util.module_from_spec(spec)
    cached = sys.modules.get(module)
    sys.modules[module] = fresh  # dataclasses look their module up while it runs
    try:
        spec.loader.exec_module(fresh)
    finally:
        if cached is None:
            del sys.modules[module]
        else:
            sys.modules[module] = cached
    return fresh


@pytest.fixture
def services(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """The API's services on moto: what the API function's composition root builds, handed to `api`."""
    from moto import mock_aws

    from timerack_bridge.adapters.dynamodb import tables
    from timerack_bridge.api import deps
    from timerack_bridge.config import ApiSettings

    monkeypatch.setenv("TABLE_NAME", "main")
    monkeypatch.setenv("IDEMPOTENCY_TABLE_NAME", "idem")
    monkeypatch.setenv("EXPORT_DESTINATION", "outbox")
    monkeypatch.setenv("EXPORT_OUTBOX_DIR", str(tmp_path / "timerack-outbox"))
    with mock_aws():
        from local.moto_stand_in import SerializedClient, install_fast_transactions
        from timerack_bridge.adapters.export_queue import SqsExportQueue, create_export_queues

        install_fast_transactions()

        # In-process moto is not thread-safe; each DynamoDB call is atomic in AWS, so serialize calls.
        client = SerializedClient(boto3.client("dynamodb", region_name="us-east-1"))
        tables.create_tables(client, "main", "idem")
        sqs = SerializedClient(boto3.client("sqs", region_name="us-east-1"))
        queues = create_export_queues(sqs, "exports")
        monkeypatch.setenv("EXPORT_QUEUE_URL", queues.bulk)
        monkeypatch.setenv("EXPORT_PRIORITY_QUEUE_URL", queues.priority)
        # The queue sends from a pool of threads: in-process moto is not thread-safe, so its calls are serialized.
        export_queue = SqsExportQueue(sqs, queues)
        yield deps.Services(settings=ApiSettings.from_env(), dynamodb=client, export_queue=export_queue)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


ApiCall = Callable[..., Reply]


@pytest.fixture(scope="session")
def resolver() -> Any:
    """One resolver for the session, as one Lambda instance keeps one (building one costs ~0.1 s)."""
    from timerack_bridge.api.app import build_app

    return build_app()


@pytest.fixture
def handle(services: Any, resolver: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The API function's entry with these services: a proxy event in, a proxy response out."""
    from timerack_bridge.api.handler import handle

    return lambda event: handle(event, None, services, resolver)


@pytest.fixture
def api_for(resolver: Any) -> Callable[[Any], ApiCall]:
    """An API caller on the given services, as the API function's composition root hands them in."""
    from local.proxy import build_proxy_event, response_parts
    from timerack_bridge.api.handler import handle

    def caller_on(services: Any) -> ApiCall:
        def call(
            method: str,
            path: str,
            body: Any = None,
            *,
            principal: str | None = PRINCIPAL,
            admin: bool = False,
            headers: dict[str, str] | None = None,
            raw: str | bytes | None = None,
        ) -> Reply:
            claims = None
            if principal is not None:
                scope = "timerack/timecards.write" + (" timerack/admin" if admin else "")
                claims = {"sub": principal, "scope": scope}
            payload = raw if raw is not None else (None if body is None else json.dumps(body))
            event = build_proxy_event(
                method,
                path,
                headers={"Content-Type": "application/json", **(headers or {})},
                body=payload,
                claims=claims,
            )
            status, out_headers, data = response_parts(handle(event, None, services, resolver))
            return Reply(status, out_headers, data)

        return call

    return caller_on


@pytest.fixture
def api(api_for: Callable[[Any], ApiCall], services: Any) -> ApiCall:
    """Call the API handler with a proxy event, as API Gateway would after its authorizer."""
    return api_for(services)


@dataclass
class Agency:
    """A standard agency: System (no master data) > Branch > Sub-branch, one client with a child."""

    client_key: str = CLIENT_KEY
    weekend_bill: date = WEEKEND_BILL
    principal: str = PRINCIPAL


@pytest.fixture
def agency(services: Any) -> Agency:
    from timerack_bridge.domain.entities import (
        Assignment,
        Customer,
        Employee,
        HierarchyNode,
        SecurityGroup,
        ServiceRep,
        Week,
    )

    admin = services.admin
    admin.put_node(HierarchyNode(node_id="system", name="System", allows_master_data=False))
    admin.put_node(HierarchyNode(node_id="branch", name="Branch", parent_id="system"))
    admin.put_node(HierarchyNode(node_id="sub", name="Sub-branch", parent_id="branch"))
    admin.put_node(HierarchyNode(node_id="other", name="Other branch", parent_id="system"))
    admin.put_rep(ServiceRep(rep_id="rep-1", name="Portal", principal=PRINCIPAL, current_hierarchy_node_id="branch"))
    admin.put_group(
        SecurityGroup(
            name="Timerack",
            description="Timerack integration",
            hierarchy_node_id="system",
            permissions=["Timerack"],
            members=["rep-1"],
        )
    )
    admin.put_customer(
        Customer(customer_id=100, name="Acme", hierarchy_node_id="branch", timerack_client_key=CLIENT_KEY)
    )
    admin.put_customer(
        Customer(customer_id=101, name="Acme Plant 2", parent_customer_id=100, hierarchy_node_id="branch")
    )
    admin.put_customer(
        Customer(customer_id=200, name="Globex", hierarchy_node_id="branch", timerack_client_key="GLOBEX-1")
    )
    for employee_id in (501, 502, 503, 504):
        admin.put_employee(
            Employee(
                employee_id=employee_id,
                first_name="E",
                last_name=str(employee_id),
                birth_date=date(1990, 4, 7),
                ssn_last4="2345",
                hierarchy_node_id="branch",
            )
        )
    for assignment_id, employee_id, customer_id, node, status in (
        (1001, 501, 100, "branch", "Active"),
        (1002, 502, 101, "sub", "Complete"),
        (1003, 503, 100, "branch", "Deleted/Mistakenly Entered"),
        (1004, 504, 100, "branch", "Cancelled"),
        (1005, 501, 200, "branch", "Active"),
        (1006, 502, 100, "other", "Active"),
    ):
        admin.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=employee_id,
                customer_id=customer_id,
                hierarchy_node_id=node,
                status=status,
                start_date=date(2026, 1, 5),
            )
        )
    admin.put_week(Week(weekend_bill=WEEKEND_BILL, hierarchy_node_id="branch", status="open"))
    return Agency()


def timecard(
    assignment_id: int,
    employee_id: int,
    pay_code: str = "REG",
    hours: float = 8.0,
    day: date = date(2026, 11, 16),
    **extra: Any,
) -> dict[str, Any]:
    return {
        "assignmentId": assignment_id,
        "employeeId": employee_id,
        "payCode": pay_code,
        "days": [{"date": day.isoformat(), "hours": hours}],
        **extra,
    }


def batch(*timecards: dict[str, Any], client_key: str = CLIENT_KEY, end: date = WEEKEND_BILL) -> dict[str, Any]:
    return {
        "clientKey": client_key,
        "payPeriod": {"start": "2026-11-16", "end": end.isoformat()},
        "timecards": list(timecards),
    }


# ---------------------------------------------------------------- least privilege (tests/least_privilege.py)

_RECORDER: Any = None


def pytest_configure(config: pytest.Config) -> None:
    """Record every AWS call the product's code makes, from the first test on."""
    global _RECORDER
    from tests.least_privilege import CallRecorder

    _RECORDER = CallRecorder()
    _RECORDER.install()


def _shared_dir(config: pytest.Config) -> Path:
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Each process saves its calls; the last one to finish (the controller, or the only process) checks them
    against the synthesized roles, when the session synthesized the stacks (tests/infra ran)."""
    if _RECORDER is None:
        return
    shared = _shared_dir(session.config)
    worker = getattr(session.config, "workerinput", {}).get("workerid", "main")
    _RECORDER.save(shared / "aws-calls" / f"{worker}.json")
    if hasattr(session.config, "workerinput"):
        return
    from tests.least_privilege_check import check_session

    if not check_session(shared, session.config):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
