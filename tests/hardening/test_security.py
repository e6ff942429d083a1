"""Security: the auth matrix (each refusal writes nothing), no SSN or PIN in any reply, log line or
email of a full run, the SSN kept as its last four only, and no formula in report.csv or the emailed file.
"""

from __future__ import annotations

import base64
import csv
import email
import gzip
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import Message
from typing import Any

import pytest

from local.tokens import AUDIENCE, ISSUER, issue_token
from tests.conftest import CLIENT_KEY, Agency, ApiCall, batch, timecard
from tests.hardening.conftest import HardeningStack, start_stack, stop_stack, table_snapshot
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.domain.entities import Customer, SecurityGroup, ServiceRep

# ---------------------------------------------------------------- 401: the local runtime's token check


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(key: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT with any header and claims, signed HS256 with `key` (to forge what issue_token would not)."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


def good_claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "sub": "agency-admin",
        "scope": "timerack/timecards.write timerack/admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        **changes,
    }


def bad_authorizations(key: bytes) -> dict[str, str | None]:
    admin = issue_token(key, "agency-admin", admin=True)
    head, body, _ = admin.split(".")
    unsigned = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return {
        "no token": None,
        "not a bearer scheme": f"Basic {admin}",
        "bearer without a token": "Bearer ",
        "not a JWT": "Bearer not.a.jwt",
        "bad signature": "Bearer " + issue_token(b"\x01" * 32, "agency-admin", admin=True),
        "claims changed after signing": "Bearer "
        + ".".join([head, _b64(json.dumps(good_claims(sub="timerack-portal")).encode()), admin.split(".")[2]]),
        "expired": "Bearer " + issue_token(key, "agency-admin", admin=True, ttl_seconds=-60),
        "wrong audience": "Bearer " + issue_token(key, "agency-admin", admin=True, audience="another-api"),
        "wrong issuer": "Bearer " + issue_token(key, "agency-admin", admin=True, issuer="someone-else"),
        "alg none": "Bearer " + f"{unsigned}.{body}.",
        "alg HS512 claimed": "Bearer " + signed(key, {"alg": "HS512", "typ": "JWT"}, good_claims()),
        "exp as text": "Bearer " + signed(key, {"alg": "HS256"}, good_claims(exp="9999999999")),
        "no subject": "Bearer " + signed(key, {"alg": "HS256"}, {k: v for k, v in good_claims().items() if k != "sub"}),
    }


WRITES = [
    (
        "POST",
        "/v1/timecard-batches",
        {
            "clientKey": CLIENT_KEY,
            "timecards": [{"assignmentId": 1001, "employeeId": 501, "payCode": "REG", "days": []}],
        },
    ),
    (
        "PUT",
        "/v1/employees/901",
        {"firstName": "A", "lastName": "B", "hierarchyNodeId": "acme-branch", "ssn": "987-65-4329"},
    ),
    (
        "PUT",
        f"/v1/clients/{CLIENT_KEY}/payroll-email",
        {"recipients": ["attacker@evil.example"], "receiveErrorFile": True},
    ),
    ("POST", "/v1/weeks/2026-11-29/send-to-payroll", {"hierarchyNodeId": "acme-branch"}),
]


@pytest.mark.e2e
@pytest.mark.xdist_group("hardening")
def test_every_bad_token_is_401_and_writes_nothing(hardening_stack: HardeningStack) -> None:
    before = hardening_stack.snapshot()
    for case, authorization in bad_authorizations(hardening_stack.signing_key()).items():
        for method, path, body in WRITES:
            headers = {"Authorization": authorization} if authorization is not None else {}
            status, reply_headers, reply = hardening_stack.call(method, path, body, headers=headers)
            assert status == 401, (case, method, path, reply[:200])
            assert reply_headers.get("WWW-Authenticate") == "Bearer" and json.loads(reply)["message"], case
    assert hardening_stack.snapshot() == before


# ---------------------------------------------------------------- 403/404: the handler's checks


@pytest.fixture
def far_client(services: Any, agency: Agency) -> dict[str, Any]:
    """Another client at the "other" node, outside rep-1's, with one batch in its Payroll History."""
    from timerack_bridge.api.auth import Caller, require_timerack_rep
    from timerack_bridge.domain.batch import TimecardIn
    from timerack_bridge.logic.intake import submit_batch

    admin = services.admin
    admin.put_customer(
        Customer(customer_id=300, name="Far away", hierarchy_node_id="other", timerack_client_key="FAR-1")
    )
    admin.put_rep(
        ServiceRep(rep_id="rep-far", name="Far rep", principal="far-portal", current_hierarchy_node_id="other")
    )
    admin.put_group(
        SecurityGroup(
            name="Timerack",
            description="Timerack integration",
            hierarchy_node_id="system",
            permissions=["Timerack"],
            members=["rep-1", "rep-far"],
        )
    )
    access = require_timerack_rep(Caller("far-portal", frozenset()), admin)
    customer = admin.get_customer_by_client_key("FAR-1")
    sent = submit_batch(services, access, customer, [TimecardIn.model_validate(timecard(1006, 502))])
    return {"batch_id": sent.batch_id}


def timerack_requests(batch_id: str) -> list[tuple[str, str, Any]]:
    return [
        ("POST", "/v1/timecard-batches", batch(timecard(1001, 501))),
        ("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}", None),
        ("GET", f"/v1/payroll-history/{batch_id}", None),
        ("GET", f"/v1/payroll-history/{batch_id}/report.csv", None),
        ("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22", None),
        ("GET", f"/v1/clients/{CLIENT_KEY}/payroll-email", None),
        (
            "PUT",
            f"/v1/clients/{CLIENT_KEY}/payroll-email",
            {"recipients": ["x@evil.example"], "receiveErrorFile": True},
        ),
        ("POST", "/v1/exports", {"clientKey": CLIENT_KEY}),
        (
            "POST",
            "/v1/timecard-imports",
            {
                "feedType": "Timerack Feed",
                "parentCustomerId": 100,
                "weekendBill": "2026-11-22",
                "fileName": "f.csv",
                "content": "",
            },
        ),
    ]


def test_a_rep_not_in_the_group_or_outside_its_node_gets_403_everywhere_and_writes_nothing(
    api: ApiCall, services: Any, far_client: dict[str, Any]
) -> None:
    admin = services.admin
    # Given a rep in no group; and a member of a group whose node ("sub") lies below the rep's ("branch")
    admin.put_rep(ServiceRep(rep_id="rep-2", name="Outsider", principal="outsider", current_hierarchy_node_id="branch"))
    admin.put_rep(ServiceRep(rep_id="rep-3", name="Above", principal="above", current_hierarchy_node_id="branch"))
    admin.put_group(
        SecurityGroup(name="Sub only", hierarchy_node_id="sub", permissions=["Timerack"], members=["rep-3"])
    )
    # And a member of a group that lacks the Timerack permission, and a principal that is no rep at all
    admin.put_rep(
        ServiceRep(rep_id="rep-4", name="No permission", principal="no-permission", current_hierarchy_node_id="branch")
    )
    admin.put_group(SecurityGroup(name="Other app", hierarchy_node_id="system", permissions=[], members=["rep-4"]))
    before = table_snapshot(services)
    for principal in ("outsider", "above", "no-permission", "stranger"):
        for method, path, body in timerack_requests(far_client["batch_id"]):
            reply = api(method, path, body, principal=principal)
            assert reply.status == 403, (principal, method, path, reply.text[:200])
    assert table_snapshot(services) == before


def test_admin_routes_without_the_admin_scope_are_403_and_write_nothing(
    api: ApiCall, services: Any, agency: Agency
) -> None:
    api("POST", "/v1/timecard-batches", batch(timecard(1001, 501)))
    before = table_snapshot(services)
    admin_writes = [
        ("PUT", "/v1/hierarchy/branch", {"name": "Taken over", "parentId": None, "allowsMasterData": True}),
        ("PUT", "/v1/service-reps/rep-1", {"name": "x", "principal": "attacker", "currentHierarchyNodeId": "system"}),
        (
            "PUT",
            "/v1/security-groups/Timerack",
            {"hierarchyNodeId": "system", "permissions": ["Timerack"], "members": ["rep-1", "rep-evil"]},
        ),
        ("PUT", "/v1/customers/100", {"name": "x", "hierarchyNodeId": "branch", "timerackClientKey": "EVIL-1"}),
        (
            "PUT",
            "/v1/employees/501",
            {"firstName": "x", "lastName": "y", "hierarchyNodeId": "branch", "pinOverride": "111111"},
        ),
        ("GET", "/v1/employees/501", None),
        ("GET", "/v1/employees?hasPinOverride=false", None),
        (
            "PUT",
            "/v1/assignments/1001",
            {
                "employeeId": 502,
                "customerId": 100,
                "hierarchyNodeId": "branch",
                "status": "Active",
                "startDate": "2026-01-05",
            },
        ),
        ("PUT", "/v1/weeks/2026-11-29", {"hierarchyNodeId": "branch", "status": "open"}),
        ("POST", "/v1/weeks/2026-11-22/send-to-payroll", {"hierarchyNodeId": "system"}),
    ]
    # A Timerack rep's token (scope timerack/timecards.write only), and an admin principal without the scope
    for principal in ("timerack-portal", "agency-admin"):
        for method, path, body in admin_writes:
            reply = api(method, path, body, principal=principal)
            assert reply.status == 403 and "timerack/admin" in reply.json["message"], (principal, path)
    assert table_snapshot(services) == before


def test_a_rep_asking_for_another_clients_data_is_refused_and_writes_nothing(
    api: ApiCall, services: Any, far_client: dict[str, Any]
) -> None:
    before = table_snapshot(services)
    far_batch = far_client["batch_id"]
    # Not found, as for a client or batch that does not exist: a rep learns nothing of other clients
    assert api("GET", "/v1/payroll-history?clientKey=FAR-1").status == 404
    assert api("GET", f"/v1/payroll-history/{far_batch}").status == 404
    assert api("GET", f"/v1/payroll-history/{far_batch}/report.csv").status == 404
    assert api("GET", "/v1/clients/FAR-1/payroll-email").status == 404
    assert api("PUT", "/v1/clients/FAR-1/payroll-email", {"recipients": ["x@evil.example"]}).status == 404
    assert api("POST", "/v1/exports", {"clientKey": "FAR-1"}).status == 404
    assert api("POST", "/v1/timecard-batches", batch(timecard(1006, 502), client_key="FAR-1")).status == 404
    assert (
        api(
            "POST",
            "/v1/timecard-imports",
            {
                "feedType": "Timerack Feed",
                "parentCustomerId": 300,
                "weekendBill": "2026-11-22",
                "fileName": "f.csv",
                "content": "",
            },
        ).status
        == 404
    )
    # Its assignment (node "other") is not visible: not found, as the article words it
    reply = api("GET", "/v1/timecards?assignmentId=1006&weekendBill=2026-11-22")
    assert reply.status == 404 and "could not be found or is not currently visible" in reply.json["message"]
    assert table_snapshot(services) == before
    # And its own rep still reads it (the refusals above are about visibility, not a broken route)
    assert api("GET", f"/v1/payroll-history/{far_batch}", principal="far-portal").status == 200


# ---------------------------------------------------------------- no SSN, no PIN: a full run's replies, logs, mail

SSN_DASHED, SSN_PLAIN = "987-65-4329", "876543210"
# 910: born on the 28th, SSN ...4329 -> PIN 284329; 911: PIN override 583920. The first five digits
# of an SSN are never kept at all. (Four digits alone are not searched: ports and batch ids hold such runs.)
SECRETS = (
    "987-65-4329",
    "987654329",
    "98765",
    "876543210",
    "87654",
    "876-54-3210",
    "284329",
    "583920",
    "987-65-43291",
    "58392X",
)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A fresh local runtime driven through a full day: employees with SSNs and overrides (and bad
    ones), assignments, a batch with errors (mailed), its history and CSV, timecards, the export."""
    stack = start_stack(tmp_path_factory.mktemp("full-run-state"))
    replies: list[tuple[str, int, dict[str, str], bytes]] = []
    try:
        admin = stack.token("agency-admin", admin=True)
        rep = stack.token("timerack-portal")

        def call(method: str, path: str, body: Any, token: str) -> tuple[int, bytes]:
            status, headers, data = stack.call(method, path, body, token=token)
            replies.append((f"{method} {path}", status, headers, data))
            return status, data

        today = date.today()
        weekend_bill = today + timedelta(days=(6 - today.weekday()) % 7)
        assert (
            call(
                "PUT",
                "/v1/employees/910",
                {
                    "firstName": "Sam",
                    "lastName": "Secret",
                    "birthDate": "1988-03-28",
                    "ssn": SSN_DASHED,
                    "hierarchyNodeId": "acme-branch",
                },
                admin,
            )[0]
            == 200
        )
        assert (
            call(
                "PUT",
                "/v1/employees/911",
                {
                    "firstName": "Olga",
                    "lastName": "Override",
                    "birthDate": "1990-01-05",
                    "ssn": SSN_PLAIN,
                    "pinOverride": "583920",
                    "hierarchyNodeId": "acme-branch",
                },
                admin,
            )[0]
            == 200
        )
        assert (
            call(
                "PUT",
                "/v1/employees/912",
                {"firstName": "Bad", "lastName": "Ssn", "ssn": "987-65-43291", "hierarchyNodeId": "acme-branch"},
                admin,
            )[0]
            == 422
        )
        assert (
            call(
                "PUT",
                "/v1/employees/912",
                {"firstName": "Bad", "lastName": "Pin", "pinOverride": "58392X", "hierarchyNodeId": "acme-branch"},
                admin,
            )[0]
            == 422
        )
        for employee_id in (910, 911):
            call("GET", f"/v1/employees/{employee_id}", None, admin)
        call("GET", "/v1/employees?hasPinOverride=true", None, admin)
        call("GET", "/v1/employees?hasPinOverride=false", None, admin)
        for assignment_id, employee_id in ((9101, 910), (9102, 911)):
            assert (
                call(
                    "PUT",
                    f"/v1/assignments/{assignment_id}",
                    {
                        "employeeId": employee_id,
                        "customerId": 100,
                        "hierarchyNodeId": "acme-branch",
                        "status": "Active",
                        "startDate": (today - timedelta(days=7)).isoformat(),
                    },
                    admin,
                )[0]
                == 200
            )
        monday = (weekend_bill - timedelta(days=6)).isoformat()
        formula = '=1+cmd|"/C calc"!A0'  # a pay code is at most 20 characters
        status, body = call(
            "POST",
            "/v1/timecard-batches",
            {
                "clientKey": CLIENT_KEY,
                "timecards": [
                    {"assignmentId": 9101, "employeeId": 910, "payCode": "REG", "days": [{"date": monday, "hours": 8}]},
                    {
                        "assignmentId": 9102,
                        "employeeId": 911,
                        "payCode": formula,
                        "days": [{"date": monday, "hours": 8}],
                    },
                    {"assignmentId": 4243, "employeeId": 910, "payCode": "@SUM(1+1)", "days": []},
                ],
            },
            rep,
        )
        assert status == 200, body
        batch_id = json.loads(body)["batchId"]
        call("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}", None, rep)
        call("GET", f"/v1/payroll-history/{batch_id}", None, rep)
        status, report = call("GET", f"/v1/payroll-history/{batch_id}/report.csv", None, rep)
        assert status == 200
        call("GET", f"/v1/timecards?assignmentId=9101&weekendBill={weekend_bill.isoformat()}", None, rep)
        assert call("POST", "/v1/exports", {"clientKey": CLIENT_KEY}, rep)[0] == 202
        mails = wait_for_mail(stack, batch_id)
        time.sleep(0.5)  # the last log lines of the run
        yield {
            "stack": stack,
            "replies": replies,
            "report": report.decode(),
            "mails": mails,
            "items": stack.items(),
            "logs": stack.logs(),
        }
    finally:
        stop_stack(stack)


def wait_for_mail(stack: HardeningStack, batch_id: str) -> list[Message]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        mails = [email.message_from_bytes(p.read_bytes()) for p in (stack.state_dir / "email-outbox").glob("*.eml")]
        found = [m for m in mails if m["X-Timerack-Batch-Id"] == batch_id]
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"no error-file email for {batch_id}:\n{stack.logs()[-3000:]}")


@pytest.mark.e2e
@pytest.mark.xdist_group("hardening")
def test_no_ssn_digits_and_no_pin_in_any_reply_of_a_full_run(full_run: dict[str, Any]) -> None:
    for label, status, headers, body in full_run["replies"]:
        text = body.decode(errors="replace") + json.dumps(headers)
        leaked = [s for s in SECRETS if s in text]
        assert not leaked, f"{label} ({status}) shows {leaked}"
    employee = next(json.loads(b) for label, _, _, b in full_run["replies"] if label == "GET /v1/employees/910")
    assert employee["hasSsn"] is True and "ssn" not in json.dumps(employee).lower().replace("hasssn", "")


@pytest.mark.e2e
@pytest.mark.xdist_group("hardening")
def test_no_ssn_digits_and_no_pin_in_any_log_line_or_email_of_a_full_run(full_run: dict[str, Any]) -> None:
    logs = full_run["logs"]
    assert "POST /v1/timecard-batches" in logs and "export" in logs  # the run's logs were captured
    for number, line in enumerate(logs.splitlines(), 1):
        leaked = [s for s in SECRETS if s in line]
        assert not leaked, f"log line {number} shows {leaked}: {line[:200]}"
    for mail in full_run["mails"]:
        text = mail.as_string() + "".join(p.get_payload(decode=True).decode() for p in mail.walk() if p.get_filename())
        assert not [s for s in SECRETS if s in text]
    # The PIN was live in the run: it went where it must, to Timerack's export payload, and only there
    outbox = json.loads((full_run["stack"].state_dir / "timerack-outbox" / CLIENT_KEY / "latest.json").read_text())
    pins = {e["employeeId"]: e["pin"] for e in outbox["employees"]}
    assert pins[910] == "284329" and pins[911] == "583920"


@pytest.mark.e2e
@pytest.mark.xdist_group("hardening")
def test_the_ssn_is_stored_as_its_last_four_only(full_run: dict[str, Any]) -> None:
    # Payroll History keeps its results gzip-compressed: read those too
    stored = json.dumps(full_run["items"], default=repr) + "".join(
        gzip.decompress(value["B"]).decode() for item in full_run["items"] for value in item.values() if "B" in value
    )
    assert "Assignment 9102" in stored  # the compressed results were read
    assert not [s for s in ("987-65-4329", "987654329", "98765", "876543210", "87654", "43291") if s in stored]
    employees = {item["pk"]["S"]: item for item in full_run["items"] if item["sk"]["S"] == "EMPLOYEE"}
    assert employees["EMPLOYEE#910"]["ssn_last4"] == {"S": "4329"}
    assert employees["EMPLOYEE#911"]["ssn_last4"] == {"S": "3210"}
    assert "EMPLOYEE#912" not in employees  # refused, never written


# ---------------------------------------------------------------- formulas in report.csv and the emailed file


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.e2e
@pytest.mark.xdist_group("hardening")
def test_report_csv_and_the_emailed_file_never_open_a_formula(full_run: dict[str, Any]) -> None:
    attachments = [p.get_payload(decode=True).decode() for m in full_run["mails"] for p in m.walk() if p.get_filename()]
    assert len(attachments) == 1
    for document in (full_run["report"], attachments[0]):
        rows = cells(document)
        pay_codes = {row[2] for row in rows[1:]}
        assert '\'=1+CMD|"/C CALC"!A0' in pay_codes and "'@SUM(1+1)" in pay_codes
        for row in rows[1:]:
            assert not any(cell.lstrip().startswith(("=", "+", "-", "@")) for cell in row), row


def test_the_error_file_neutralises_every_dangerous_start() -> None:
    from timerack_bridge.domain.error_mail import build_error_file_message

    dangerous = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", " =1+1", "\uff1d1+1", "\x00=1"]
    result = BatchResult(
        batch_id="B-1",
        client_key=CLIENT_KEY,
        submitted_at=datetime(2026, 11, 23, tzinfo=UTC),
        weekend_bill=date(2026, 11, 22),
        counts=BatchCounts(assignments=1, created=0, replaced=0, errors=1),
        results=[
            AssignmentResult(
                assignment_id=1,
                status="error",
                error="-2+3",
                pay_codes=dangerous,
                employee_id=501,
                weekend_bill=date(2026, 11, 22),
            )
        ],
    )
    message = build_error_file_message(
        result, client_name="=cmd|' /C calc'!A0", sender="s@agency.example", recipients=["pay@acme.example"]
    )
    [attachment] = [p.get_payload(decode=True).decode() for p in message.walk() if p.get_filename()]
    rows = cells(attachment)[1:]
    assert [row[2] for row in rows] == ["'" + code for code in dangerous]
    assert all(row[5] == "'-2+3" for row in rows)


def test_a_token_without_a_timerack_scope_is_403_and_writes_nothing(
    services: Any, agency: Agency, handle: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Found here: the handler took any valid token of the user pool; only API Gateway checked the scope."""
    from local.proxy import build_proxy_event

    before = table_snapshot(services)
    for scope in ("", "openid email", "timerack/timecards.read", "timerack/administrator"):
        for method, path, body in [
            timerack_requests("20261123T100000-abcdef012345")[0],
            ("PUT", "/v1/employees/501", {"firstName": "x", "lastName": "y", "hierarchyNodeId": "branch"}),
        ]:
            event = build_proxy_event(
                method,
                path,
                headers={"Content-Type": "application/json"},
                body=json.dumps(body),
                claims={"sub": "timerack-portal", "scope": scope},
            )
            reply = handle(event)
            assert reply["statusCode"] == 403 and "scope" in json.loads(reply["body"])["message"], (scope, path)
    assert table_snapshot(services) == before


def test_a_manual_import_clients_history_is_not_readable_through_a_colliding_client_key(
    api: ApiCall, services: Any, agency: Agency
) -> None:
    # Given a manual-import customer without a Client Key, at a node rep-1 cannot see, and a customer
    # rep-1 sees whose Client Key happens to be "300", the first one's id
    admin = services.admin
    admin.put_customer(
        Customer(customer_id=300, name="Manual", hierarchy_node_id="other", timerack_mode="manual-import")
    )
    admin.put_customer(Customer(customer_id=400, name="Keyed", hierarchy_node_id="branch", timerack_client_key="300"))
    admin.put_rep(ServiceRep(rep_id="rep-far", name="Far", principal="far-portal", current_hierarchy_node_id="other"))
    admin.put_group(
        SecurityGroup(
            name="Timerack", hierarchy_node_id="system", permissions=["Timerack"], members=["rep-1", "rep-far"]
        )
    )
    feed = (
        "Assignment ID,Employee ID,Pay Code,Date,Hours,Punch In,Punch Out,Adjustment Code,Adjustment Amount,"
        "Adjustment Description\n1006,502,REG,2026-11-16,8,,,,,\n"
    )
    imported = api(
        "POST",
        "/v1/timecard-imports",
        {
            "feedType": "Timerack Feed",
            "parentCustomerId": 300,
            "weekendBill": "2026-11-22",
            "fileName": "f.csv",
            "content": feed,
        },
        principal="far-portal",
    )
    # Then the import is refused: Payroll History and its checks are keyed by the Client Key
    assert imported.status == 409 and "no Timerack Client Key" in imported.json["message"]
    # And rep-1 listing the history of client key "300" sees nothing of customer 300
    assert api("GET", "/v1/payroll-history?clientKey=300").json["items"] == []
