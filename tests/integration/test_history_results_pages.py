"""Issue 18, item 3: GET /v1/payroll-history/{batchId} of a big batch answers its results a page at a time.

A batch of up to 20,000 assignments answered whole would pass Lambda's 6 MB response (API Gateway then
answers 502): `resultsLimit` (1-5,000, default 5,000) and `resultsToken` page its results; `nextResultsToken`
is null on the last page; counts are always of the whole batch. A batch of up to 5,000 assignments (every
synchronous batch) answers as before in one page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.conftest import Agency, ApiCall
from timerack_bridge.domain.batch import AssignmentResult, BatchCounts, BatchResult
from timerack_bridge.domain.entities import Customer

ADMIN = "agency-admin"
WEEKEND_BILL = date(2026, 11, 22)
LAMBDA_RESPONSE_LIMIT = 6 * 1024 * 1024
# The page the API answers stays well below Lambda's limit, whatever its results carry.
PAGE_CEILING = 4.5 * 1024 * 1024


def results_of(count: int, *, first_id: int = 1000) -> list[AssignmentResult]:
    return [
        AssignmentResult(
            assignment_id=first_id + n,
            status="error" if n % 4 == 0 else "created",
            timecard_ids=[] if n % 4 == 0 else [f"TC-{first_id + n}-20261122-REG"],
            error=f"Assignment {first_id + n}: 2026-11-17 has neither hours nor punches" if n % 4 == 0 else None,
            employee_id=500 + n,
            pay_codes=["REG"],
            weekend_bill=WEEKEND_BILL,
        )
        for n in range(count)
    ]


def batch_of(batch_id: str, results: list[AssignmentResult], *, customer_id: int = 100) -> BatchResult:
    errors = sum(r.status == "error" for r in results)
    counts = BatchCounts(assignments=len(results), created=len(results) - errors, replaced=0, errors=errors)
    return BatchResult(
        batch_id=batch_id,
        client_key="ACME-1" if customer_id == 100 else "FAR-1",
        customer_id=customer_id,
        submitted_at=datetime(2026, 11, 23, 9, tzinfo=UTC),
        weekend_bill=WEEKEND_BILL,
        counts=counts,
        results=results,
    )


@pytest.fixture
def twelve(services: Any, agency: Agency) -> BatchResult:
    """A batch of 12 results rep-1 sees (ACME-1), one of 3 they do not (FAR-1, at the other branch)."""
    services.admin.put_customer(
        Customer(customer_id=300, name="Far away", hierarchy_node_id="other", timerack_client_key="FAR-1")
    )
    batch = batch_of("b-twelve", results_of(12))
    services.batches.put_batch(batch)
    services.batches.put_batch(batch_of("b-other", results_of(12, first_id=5000)))
    services.batches.put_batch(batch_of("b-far", results_of(3), customer_id=300))
    return batch


def pages(api: ApiCall, batch_id: str, query: str = "", **kwargs: Any) -> list[dict[str, Any]]:
    """Every page of the batch, following nextResultsToken from the first."""
    replies, token = [], None
    while True:
        suffix = f"&resultsToken={token}" if token else ""
        reply = api("GET", f"/v1/payroll-history/{batch_id}?{query}{suffix}", **kwargs)
        assert reply.status == 200, reply.text
        replies.append(reply.json)
        token = reply.json["nextResultsToken"]
        if token is None:
            return replies
        assert len(replies) < 50


def test_twelve_results_read_five_at_a_time_come_in_three_pages(api: ApiCall, twelve: BatchResult) -> None:
    read = pages(api, "b-twelve", "resultsLimit=5")
    assert [len(page["results"]) for page in read] == [5, 5, 2]
    seen = [r["assignmentId"] for page in read for r in page["results"]]
    assert seen == [r.assignment_id for r in twelve.results]  # every result once, in order
    whole = twelve.model_dump(mode="json", by_alias=True)
    for page in read:
        # Counts and every other field are the whole batch's on every page
        assert page["counts"] == whole["counts"] == {"assignments": 12, "created": 9, "replaced": 0, "errors": 3}
        assert {k: v for k, v in page.items() if k not in ("results", "nextResultsToken")} == {
            k: v for k, v in whole.items() if k != "results"
        }


def test_the_default_page_is_the_whole_batch_as_before(api: ApiCall, twelve: BatchResult) -> None:
    reply = api("GET", "/v1/payroll-history/b-twelve")
    assert reply.status == 200
    assert reply.json == {**twelve.model_dump(mode="json", by_alias=True), "nextResultsToken": None}
    # A page as big as the batch, or bigger, is the whole batch too
    assert api("GET", "/v1/payroll-history/b-twelve?resultsLimit=12").json["nextResultsToken"] is None
    assert len(api("GET", "/v1/payroll-history/b-twelve?resultsLimit=5000").json["results"]) == 12


@pytest.mark.parametrize("limit", ["0", "5001", "ten"])
def test_a_results_limit_out_of_range_is_422(api: ApiCall, twelve: BatchResult, limit: str) -> None:
    assert api("GET", f"/v1/payroll-history/b-twelve?resultsLimit={limit}").status == 422


def test_a_token_of_another_batch_or_garbage_is_422(api: ApiCall, twelve: BatchResult) -> None:
    token = api("GET", "/v1/payroll-history/b-twelve?resultsLimit=5").json["nextResultsToken"]
    for bad in (token, "garbage!", "eyJ4IjogMX0=", "bm90IGpzb24=", "WzFd"):
        reply = api("GET", f"/v1/payroll-history/b-other?resultsToken={bad}")
        assert reply.status == 422, (bad, reply.text)
        assert "resultsToken" in reply.text


def test_a_rep_who_cannot_see_the_batch_is_404_on_every_page(api: ApiCall, twelve: BatchResult) -> None:
    as_admin = {"principal": ADMIN, "admin": True}
    first = api("GET", "/v1/payroll-history/b-far?resultsLimit=1", **as_admin)
    assert first.status == 200 and len(first.json["results"]) == 1
    token = first.json["nextResultsToken"]
    assert token
    assert api("GET", "/v1/payroll-history/b-far?resultsLimit=1").status == 404
    assert api("GET", f"/v1/payroll-history/b-far?resultsLimit=1&resultsToken={token}").status == 404
    assert api("GET", "/v1/payroll-history/b-far?resultsToken=garbage").status == 404
    # The admin follows the token to the end
    assert len(pages(api, "b-far", "resultsLimit=1", **as_admin)) == 3


# ---------------------------------------------------------------- the biggest page stays under Lambda's limit


def worst_results(count: int) -> list[AssignmentResult]:
    """Results as long as the product makes them: four 20-character pay codes a unit (20,000 timecards over
    5,000 units), a stacked-hours warning on each of the 7 days naming them, four removed pay codes; every
    third an error naming every pay code, with a punch of 10 characters needing JSON escapes."""
    codes = [f"PAYCODE{n:02d}".ljust(20, "X") for n in range(8)]
    kept, removed = codes[:4], codes[4:]
    stacked = [
        f"2026-11-{day} adds up to 96.25 hours across pay codes {', '.join(kept)}, "
        "more than 24 hours in one day; check that they are meant to stack"
        for day in range(16, 23)
    ]
    gone = [f"pay code {code} was not in this send and was removed" for code in removed]
    quoted_code, odd_punch = ('é\\"' * 7)[:20], "\u2028\\" * 5  # characters JSON escapes, up to each field's length
    results = []
    for n in range(count):
        assignment_id = 9_007_199_254_740_000 - n  # the longest id a RecordId takes
        if n % 3 == 0:
            error = (
                f'Assignment {assignment_id}: pay code "{quoted_code}" is not one of {", ".join(codes)}'
                f'; punch time "{odd_punch}" is not military time HHMM (0000 to 2359)'
            )
            results.append(AssignmentResult(assignment_id=assignment_id, status="error", error=error))
            continue
        results.append(
            AssignmentResult(
                assignment_id=assignment_id,
                status="replaced",
                timecard_ids=[f"TC-{assignment_id}-20261122-{code}" for code in kept],
                warnings=[*stacked, *gone],
                employee_id=9_007_199_254_740_000,
                pay_codes=kept,
                weekend_bill=WEEKEND_BILL,
            )
        )
    return results


def lambda_response_bytes(response: dict[str, Any]) -> int:
    """What Lambda sends back for this proxy response: the JSON of the whole response, escapes included."""
    return len(json.dumps(response).encode("utf-8"))


def test_the_biggest_page_stays_well_below_lambdas_response_limit(
    services: Any, agency: Agency, handle: Callable[[dict[str, Any]], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from local.proxy import build_proxy_event

    big = batch_of("b-worst", worst_results(20_000))
    whole = len(big.model_dump_json(by_alias=True))
    assert whole > 2 * LAMBDA_RESPONSE_LIMIT  # answered whole, this batch would be a 502
    monkeypatch.setattr(services.batches, "get_batch", lambda batch_id: big if batch_id == "b-worst" else None)
    claims = {"sub": ADMIN, "scope": "timerack/timecards.write timerack/admin"}
    token, sizes, seen = None, [], 0
    while True:
        target = "/v1/payroll-history/b-worst" + (f"?resultsToken={token}" if token else "")
        response = handle(build_proxy_event("GET", target, claims=claims))
        assert response["statusCode"] == 200
        sizes.append(lambda_response_bytes(response))
        page = json.loads(response["body"])
        assert [r["assignmentId"] for r in page["results"]] == [
            r.assignment_id for r in big.results[seen : seen + len(page["results"])]
        ]
        assert page["counts"]["assignments"] == 20_000
        seen += len(page["results"])
        token = page["nextResultsToken"]
        if token is None:
            break
    assert seen == 20_000
    assert max(sizes) < PAGE_CEILING < LAMBDA_RESPONSE_LIMIT


def test_a_synchronous_batch_with_a_long_warning_a_unit_answers_in_one_page(
    services: Any, agency: Agency, api: ApiCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = [
        r.model_copy(
            update={
                "warnings": [
                    f"The timecard for Assignment {r.assignment_id} for the week ending "
                    "2026-11-22 replaced the one sent on 2026-11-20: pay code X123 was not in "
                    "this send and was removed"
                ]
                * 3
            }
        )
        for r in results_of(5_000)
    ]
    batch = batch_of("b-sync", results)
    monkeypatch.setattr(services.batches, "get_batch", lambda batch_id: batch if batch_id == "b-sync" else None)
    reply = api("GET", "/v1/payroll-history/b-sync", principal=ADMIN, admin=True)
    assert reply.status == 200
    assert len(reply.json["results"]) == 5_000 and reply.json["nextResultsToken"] is None
