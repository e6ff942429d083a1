"""What a batch costs the API function, without changing what it does.

The DynamoDB client the API builds skips botocore's client-side validation (the models refuse
malformed input first); the bulk reads of a large batch run their 100-key calls side by side; the
batch body's repr carries counts, not timecards (Powertools logs it eagerly); a health check builds
no DynamoDB client.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CLIENT_KEY, Agency, ApiCall, batch, timecard
from tests.hardening.conftest import table_snapshot
from timerack_bridge.domain.entities import Adjustment, Day, Punch, Timecard
from timerack_bridge.domain.types import PayrollStatus


@pytest.fixture
def production_client(services: Any) -> Any:
    """The API function's very DynamoDB client (on moto)."""
    from timerack_bridge.api import deps

    return deps.dynamodb_client()


@pytest.fixture
def production_api(api_for: Callable[[Any], ApiCall], services: Any, production_client: Any) -> ApiCall:
    """The API on the services of the API function's own client."""
    from local.moto_stand_in import SerializedClient
    from timerack_bridge.api import deps

    return api_for(deps.Services(settings=services.settings, dynamodb=SerializedClient(production_client)))


def test_the_api_client_leaves_request_validation_to_dynamodb(production_client: Any) -> None:
    # A parameter of the wrong type: botocore's client-side validation would stop it in the client
    # (ParamValidationError); the API's client sends it as it is, and DynamoDB (here moto) judges it
    request = {"TableName": "main", "Key": {"pk": {"S": "x"}, "sk": {"S": "y"}}, "ConsistentRead": "yes"}
    assert "Item" not in production_client.get_item(**request)


def forged_token(start: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(start, sort_keys=True).encode()).decode()


# Inputs that end up in a DynamoDB request (keys, Limit, ExclusiveStartKey, item values) and would
# be malformed there: the models refuse each first, so botocore's own check is never the one to.
MALFORMED = {
    "limit 0 on the employee search": ("GET", "/v1/employees?hasPinOverride=true&limit=0", None),
    "limit 0 on Payroll History": ("GET", f"/v1/payroll-history?clientKey={CLIENT_KEY}&limit=0", None),
    "an empty client key": ("GET", "/v1/payroll-history?clientKey=&limit=5", None),
    "a forged next token": (
        "GET",
        "/v1/employees?hasPinOverride=true&nextToken=" + forged_token({"pk": {"N": "1"}, "sk": {"S": ""}}),
        None,
    ),
    "a next token of another partition": (
        "GET",
        "/v1/employees?hasPinOverride=true&nextToken="
        + forged_token({k: {"S": "x"} for k in ("pk", "sk", "gsi1pk", "gsi1sk")}),
        None,
    ),
    "an assignment id of 0": ("GET", "/v1/timecards?assignmentId=0&weekendBill=2026-11-22", None),
    "a batch assignment id as text": (
        "POST",
        "/v1/timecard-batches",
        batch({**timecard(1001, 501), "assignmentId": "1001"}),
    ),
    "a batch assignment id past 2**53": ("POST", "/v1/timecard-batches", batch(timecard(2**53 + 1, 501))),
    "an empty pay code": ("POST", "/v1/timecard-batches", batch(timecard(1001, 501, pay_code=""))),
    "an empty client key in a batch": ("POST", "/v1/timecard-batches", batch(timecard(1001, 501), client_key="")),
    "an adjustment without a code": (
        "POST",
        "/v1/timecard-batches",
        batch(timecard(1001, 501, adjustments=[{"code": "", "amount": 5}])),
    ),
    "a hierarchy node id with a slash": ("PUT", "/v1/hierarchy/a%2Fb", {"name": "x"}),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_input_is_refused_before_it_reaches_dynamodb(
    name: str, production_api: ApiCall, agency: Agency, services: Any
) -> None:
    before = table_snapshot(services)
    method, path, body = MALFORMED[name]
    reply = production_api(method, path, body, admin=True)
    assert 400 <= reply.status < 500, reply.text[:300]
    assert table_snapshot(services) == before


def test_a_batch_on_the_api_client_is_written_as_on_the_test_client(production_api: ApiCall, agency: Agency) -> None:
    body = batch(timecard(1001, 501, adjustments=[{"code": "BONUS", "amount": 25.5}]), timecard(1002, 502, "OT", 2.5))
    first = production_api("POST", "/v1/timecard-batches", body)
    again = production_api("POST", "/v1/timecard-batches", body)
    assert first.status == 200 and first.json["counts"]["created"] == 2, first.text[:300]
    assert again.status == 200 and again.json["counts"]["replaced"] == 2, again.text[:300]
    cards = production_api("GET", "/v1/timecards?assignmentId=1001&weekendBill=2026-11-22").json["items"]
    assert [(c["totalHours"], c["adjustments"][0]["amount"]) for c in cards] == [(8.0, 25.5)]


BULK_ASSIGNMENTS = range(3001, 3251)  # 250 assignments: three 100-key calls for each bulk read


class MeetingClient:
    """The test client, except that a BatchGetItem waits (up to two seconds) for another one of the
    same read to be in flight with it, and records how many were: calls made one after another
    never meet."""

    WAIT_SECONDS = 2.0

    def __init__(self, client: Any) -> None:
        self._client = client
        self._changed = threading.Condition()
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.threads: dict[str, set[int]] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, **kwargs: Any) -> Any:
        [request] = kwargs["RequestItems"].values()
        read = request["Keys"][0]["sk"]["S"].split("#")[0]  # ASSIGNMENT or UNIT
        with self._changed:
            self.calls[read] += 1
            self.threads.setdefault(read, set()).add(threading.get_ident())
            self.in_flight[read] += 1
            self.most_in_flight[read] = max(self.most_in_flight[read], self.in_flight[read])
            self._changed.notify_all()
            self._changed.wait_for(lambda: self.most_in_flight[read] >= 2, timeout=self.WAIT_SECONDS)
        try:
            return self._client.batch_get_item(**kwargs)
        finally:
            with self._changed:
                self.in_flight[read] -= 1


@pytest.fixture
def bulk_agency(agency: Agency, services: Any) -> list[dict[str, Any]]:
    """The standard agency plus 250 active assignments of its client: the timecards of one batch."""
    from timerack_bridge.domain.entities import Assignment

    for assignment_id in BULK_ASSIGNMENTS:
        services.admin.put_assignment(
            Assignment(
                assignment_id=assignment_id,
                employee_id=501,
                customer_id=100,
                hierarchy_node_id="branch",
                status="Active",
                start_date=date(2026, 1, 5),
            )
        )
    return [timecard(assignment_id, 501, hours=7.5) for assignment_id in BULK_ASSIGNMENTS]


def test_the_bulk_reads_of_a_batch_make_their_calls_side_by_side(
    api_for: Callable[[Any], ApiCall], services: Any, bulk_agency: list[dict[str, Any]]
) -> None:
    from timerack_bridge.api import deps

    # Given the API's services on a client that tells calls in flight together from calls in turn
    meeting = MeetingClient(services.dynamodb)
    api = api_for(deps.Services(settings=services.settings, dynamodb=meeting))
    # When a batch of 250 assignments is sent, and sent again
    first = api("POST", "/v1/timecard-batches", batch(*bulk_agency))
    again = api("POST", "/v1/timecard-batches", batch(*bulk_agency))
    # Then every unit was created, then replaced: both reads found what they had to
    assert first.status == 200 and first.json["counts"]["created"] == len(BULK_ASSIGNMENTS), first.text[:300]
    assert again.status == 200 and again.json["counts"]["replaced"] == len(BULK_ASSIGNMENTS), again.text[:300]
    # And each read's three 100-key calls of each send were on more than one thread, in flight together
    # (plus, per send, one BatchGetItem of the error-file settings kept on the batch)
    assert meeting.calls == {"ASSIGNMENT": 6, "UNIT": 6, "PAYROLLEMAIL": 2}
    assert meeting.most_in_flight["ASSIGNMENT"] >= 2 and meeting.most_in_flight["UNIT"] >= 2
    assert all(len(meeting.threads[read]) >= 2 for read in ("ASSIGNMENT", "UNIT"))


def test_the_route_arguments_powertools_logs_name_no_timecard(
    api: ApiCall, bulk_agency: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    # Given Powertools' resolver logging at debug level (it formats the message whatever the level)
    caplog.set_level(logging.DEBUG, logger="aws_lambda_powertools.event_handler.api_gateway")
    # When a batch of 250 timecards is sent
    reply = api("POST", "/v1/timecard-batches", batch(*bulk_agency))
    assert reply.status == 200, reply.text[:300]
    # Then the route arguments it logs are a line, with the counts and none of the timecards
    [logged] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Calling API Route Handler")]
    assert len(logged) < 300, logged[:500]
    assert "<250 timecards>" in logged and CLIENT_KEY in logged
    assert "3001" not in logged and "501" not in logged and "7.5" not in logged and "REG" not in logged


def test_a_health_check_builds_no_dynamodb_client(
    api_for: Callable[[Any], ApiCall], services: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.api import deps

    # Given a fresh function: no client built yet, and building one would fail the test
    def dynamodb_client(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the DynamoDB client was built")

    monkeypatch.setattr(deps, "dynamodb_client", dynamodb_client)
    fresh = deps.build_services(services.settings)
    api = api_for(fresh)
    # When the health route is called, and a body over the size limit is sent
    health = api("GET", "/v1/health", principal=None)
    too_large = api("POST", "/v1/timecard-batches", raw="x" * (10 * 1024 * 1024 + 1))
    # Then both are answered from the settings alone
    assert health.status == 200 and health.json["version"]
    assert too_large.status == 413
    assert fresh._dynamodb is None


def test_a_batch_of_5000_timecards_takes_one_write_call_per_100_actions(
    api: ApiCall, services: Any, agency: Agency
) -> None:
    from tests.integration.test_intake_groups import add_assignments

    # Given 2,500 assignments of the client, and every DynamoDB call of the API counted (a botocore hook)
    assignments = list(range(10_001, 12_501))
    add_assignments(services, assignments)
    calls: Counter[str] = Counter()
    services.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.update([model.name]))
    body = batch(*[timecard(a, 501, code, hours) for a in assignments for code, hours in (("REG", 8.0), ("OT", 2.0))])
    # When the batch of 5,000 timecards is sent
    reply = api("POST", "/v1/timecard-batches", body)
    # Then every unit is created
    assert reply.status == 200 and reply.json["counts"]["created"] == 2_500, reply.text[:300]
    # And its 10,000 actions (a header, two timecards and a version per unit) took 100 transactions:
    # 0.04 write calls per assignment, where one transaction per unit took 1
    assert calls["TransactWriteItems"] == 100
    assert calls["TransactWriteItems"] + calls["PutItem"] == 102  # and the batch record, processing then completed
    # And its reads are two bulk reads of 100 keys a call (the assignments, the units' states: 25 each),
    # the error-file settings, and a dozen lookups of the caller, client, tree and weeks: 62 calls, 0.0248
    # per assignment (issue 18's 0.02 would need one of the bulk reads gone: 50 calls are those two alone)
    reads = sum(calls[op] for op in ("GetItem", "BatchGetItem", "Query", "Scan"))
    assert calls["Scan"] == 0 and calls["BatchGetItem"] == 51
    assert reads / len(assignments) <= 0.025, dict(calls)


_hours = st.integers(min_value=0, max_value=240_000).map(lambda n: n / 10_000)  # as the checks round them
# Any amount the batch model admits, except below DynamoDB's smallest number (1E-130), which no item can hold
_amounts = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-100)
_text = st.text(max_size=12)
_days = st.builds(
    Day,
    date=st.dates(min_value=date(2026, 11, 16), max_value=date(2026, 11, 22)),
    hours=_hours,
    punches=st.none() | st.lists(st.builds(Punch, in_=st.just("0800"), out=st.just("1630")), max_size=2),
)
_cards = st.builds(
    lambda **fields: Timecard(**fields),  # by field name (the model's signature names its camelCase aliases)
    timecard_id=_text,
    assignment_id=st.integers(min_value=1, max_value=2**53),
    employee_id=st.integers(min_value=1, max_value=2**53),
    customer_id=st.integers(min_value=1, max_value=2**53),
    weekend_bill=st.just(date(2026, 11, 22)),
    pay_code=st.sampled_from(["REG", "OT", "DT"]),
    days=st.lists(_days, max_size=7),
    total_hours=st.integers(min_value=0, max_value=1_680_000).map(lambda n: n / 10_000),
    adjustments=st.lists(st.builds(Adjustment, code=_text, amount=_amounts, description=_text), max_size=2),
    payroll_status=st.sampled_from(list(PayrollStatus)),
    source_batch_id=_text,
)


@given(card=_cards)
@settings(max_examples=200, deadline=None)
def test_a_timecard_is_stored_with_the_very_attributes_the_generic_encoder_gave_it(card: Timecard) -> None:
    from timerack_bridge.adapters.dynamodb.base import decode, encode
    from timerack_bridge.adapters.dynamodb.timecards import card_attributes

    # The attribute values the store now builds directly are exactly those of the generic encoder, so
    # the items written (and read back as the same timecard) do not change
    assert card_attributes(card) == encode(card.model_dump(mode="json"))
    assert Timecard(**decode(card_attributes(card))) == card


_numbers = st.one_of(
    st.integers(-(10**37), 10**37).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20), max_value=10**20).map(str),
    st.sampled_from(["1E+2", "-0", "0.0", "1.50", "-7.25E-3"]),
)
_attribute_values = st.recursive(
    st.one_of(
        st.text(max_size=8).map(lambda v: {"S": v}),
        _numbers.map(lambda v: {"N": v}),
        st.booleans().map(lambda v: {"BOOL": v}),
        st.just({"NULL": True}),
        st.lists(st.text(max_size=4), min_size=1, max_size=3, unique=True).map(lambda v: {"SS": v}),
        st.lists(_numbers, min_size=1, max_size=3, unique=True).map(lambda v: {"NS": v}),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda v: {"L": v}),
        st.dictionaries(st.text(max_size=4), inner, max_size=3).map(lambda v: {"M": v}),
    ),
    max_leaves=12,
)


@given(item=st.dictionaries(st.text(min_size=1, max_size=6), _attribute_values, max_size=6))
@settings(max_examples=300, deadline=None)
def test_an_item_is_read_back_as_the_generic_decoder_read_it(item: dict[str, Any]) -> None:
    from boto3.dynamodb.types import TypeDeserializer

    from timerack_bridge.adapters.dynamodb.base import _from_dynamo, decode

    # What every store reads (a batch's assignments, its units' states) is what the generic decoder gave,
    # to the type (repr: an int is not a float here)
    generic = TypeDeserializer()
    assert repr(decode(item)) == repr({k: _from_dynamo(generic.deserialize(v)) for k, v in item.items()})
