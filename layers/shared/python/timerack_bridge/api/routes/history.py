"""Payroll History: the batches of a client (or, for an admin, of every client), one batch, its CSV report.

A TempWorks admin (scope timerack/admin, no service rep needed) reads every client's history; a rep reads
the clients at or below their node, and 404 answers for the others as for what does not exist.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, time
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models.output import BatchResultPage, BatchSummaryList
from timerack_bridge.api.routes.common import admin_or_timerack_access, services_of
from timerack_bridge.api.swagger import PAYROLL_HISTORY
from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.batch import AssignmentResult, BatchResult, SubmittedRange
from timerack_bridge.domain.report import render_csv
from timerack_bridge.domain.types import ClientKey
from timerack_bridge.exceptions import ConflictError, NotFoundError, UnprocessableError

router = Router()

BatchId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-]+$")]
# YYYY-MM-DD, or an ISO date-time (a time without an offset is UTC); ASCII digits only.
_SUBMITTED_AT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_SUBMITTED_HELP = "YYYY-MM-DD (the whole day, UTC) or an ISO date-time such as 2026-11-20T14:30:00Z; inclusive"
SubmittedFrom = Annotated[str | None, Query(alias="submittedFrom", max_length=40, description=_SUBMITTED_HELP)]
SubmittedTo = Annotated[str | None, Query(alias="submittedTo", max_length=40, description=_SUBMITTED_HELP)]

# A batch of up to SYNC_BATCH_TIMECARDS (5,000) answers in one page, as it always did.
RESULTS_PAGE_MAX = 5_000
# What one page's results may take of Lambda's response (6 MB): their JSON as sent, escapes included.
RESULTS_PAGE_BYTES = 4 * 1024 * 1024
ResultsLimit = Annotated[
    int,
    Query(
        alias="resultsLimit",
        ge=1,
        le=RESULTS_PAGE_MAX,
        description="Results a page holds at most (fewer when they would pass 4 MB); counts are the whole batch's",
    ),
]
ResultsToken = Annotated[
    str | None,
    Query(alias="resultsToken", max_length=512, description="The nextResultsToken of the page before"),
]
_NOT_GIVEN_OUT = "resultsToken is not a token this API gave out for this batch"


def _submitted_at(name: str, text: str | None, *, end_of_day: bool) -> datetime | None:
    """An instant in UTC; a plain date is the start of that day (`submittedFrom`) or its end (`submittedTo`)."""
    if text is None:
        return None
    problem = f"{name} is not a date (YYYY-MM-DD) or an ISO date-time (YYYY-MM-DDTHH:MM:SSZ)"
    if not _SUBMITTED_AT.fullmatch(text):
        raise UnprocessableError(problem)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UnprocessableError(problem) from None
    if len(text) == len("YYYY-MM-DD") and end_of_day:
        value = datetime.combine(value.date(), time.max)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def submitted_range(submitted_from: str | None, submitted_to: str | None) -> SubmittedRange:
    """The instants of the range asked (both ends included; None: open on that side)."""
    low = _submitted_at("submittedFrom", submitted_from, end_of_day=False)
    high = _submitted_at("submittedTo", submitted_to, end_of_day=True)
    if low and high and low > high:
        raise UnprocessableError("submittedFrom is after submittedTo")
    return SubmittedRange(low, high)


def _visible_batch(access: TimerackAccess, batch_id: str) -> BatchResult:
    """A batch the caller sees through the customer it belongs to; 404 otherwise (absent or hidden alike)."""
    services = services_of(router)
    batch = services.batches.get_batch(batch_id)
    owner = None
    if batch is not None:
        admin = services.admin
        owner = admin.get_customer(batch.customer_id) if batch.customer_id is not None else None
        if batch.customer_id is None:  # stored before batches carried their customer
            owner = admin.legacy_owner(batch.client_key)
    if batch is None or owner is None or not access.sees(owner.hierarchy_node_id):
        raise NotFoundError(f"The batch {batch_id} could not be found or is not currently visible.")
    return batch


def _results_token(batch_id: str, offset: int) -> str:
    """Where the next page starts, and of which batch (a token of another batch is refused)."""
    return base64.urlsafe_b64encode(json.dumps({"batchId": batch_id, "offset": offset}).encode()).decode()


def _results_offset(token: str | None, batch: BatchResult) -> int:
    """The first result of the page a resultsToken asks for; 422 for a token not given out for this batch."""
    if token is None:
        return 0
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        raise UnprocessableError(_NOT_GIVEN_OUT) from None
    if not isinstance(value, dict) or value.get("batchId") != batch.batch_id:
        raise UnprocessableError(_NOT_GIVEN_OUT)
    offset = value.get("offset")
    if type(offset) is not int or not 0 < offset < len(batch.results):
        raise UnprocessableError(_NOT_GIVEN_OUT)
    return offset


def _sent_bytes(result: AssignmentResult) -> int:
    """One result's bytes in Lambda's response: its JSON inside the body, itself a JSON string."""
    return len(json.dumps(json.dumps(result.model_dump(mode="json", by_alias=True), separators=(",", ":"))))


def results_page(batch: BatchResult, offset: int, limit: int) -> BatchResultPage:
    """Up to `limit` results from `offset`, fewer when they would pass RESULTS_PAGE_BYTES (one at least)."""
    taken: list[AssignmentResult] = []
    size = 0
    for result in batch.results[offset : offset + limit]:
        size += _sent_bytes(result)
        if taken and size > RESULTS_PAGE_BYTES:
            break
        taken.append(result)
    end = offset + len(taken)
    token = _results_token(batch.batch_id, end) if end < len(batch.results) else None
    # Not validated again: the batch was, when it was read.
    return BatchResultPage.model_construct(**{**dict(batch), "results": taken}, next_results_token=token)


@router.get(
    "/v1/payroll-history",
    tags=[PAYROLL_HISTORY],
    summary="List the batches sent (Payroll History)",
    description=(
        "A client's batches, newest first, with their counts and status, a page at a time; submittedFrom and "
        "submittedTo keep those sent in that range. Admins may leave out clientKey to see every client's. "
        "Admins, and Timerack service reps for the clients they can see (404 for others); a rep without "
        "clientKey, or a bad date, is 422."
    ),
)
def list_payroll_history(
    client_key: Annotated[ClientKey | None, Query(alias="clientKey")] = None,
    submitted_from: SubmittedFrom = None,
    submitted_to: SubmittedTo = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> BatchSummaryList:
    """A client's batches (its Primary Customer's, whatever key it had), newest first; without clientKey
    (admins only), every client's batches. submittedFrom/submittedTo keep those submitted in that range."""
    services = services_of(router)
    access = admin_or_timerack_access(router)
    submitted = submitted_range(submitted_from, submitted_to)
    if client_key is None:
        if not access.is_admin:  # a rep's clients are listed one by one: the index across clients is the admin's
            raise UnprocessableError("clientKey is required: only an admin lists the batches of every client")
        items, token = services.batches.list_all_batches(limit=limit, next_token=next_token, submitted=submitted)
        return BatchSummaryList(items=items, next_token=token)
    customer = require_visible_client(access, services.admin, client_key)
    items, token = services.batches.list_batches(
        customer.customer_id,
        legacy_client_key=services.admin.legacy_client_key(customer),
        limit=limit,
        next_token=next_token,
        submitted=submitted,
    )
    return BatchSummaryList(items=items, next_token=token)


@router.get(
    "/v1/payroll-history/<batch_id>",
    tags=[PAYROLL_HISTORY],
    summary="See one batch and its results",
    description=(
        "One batch with the result of each assignment: created, replaced or error, with the error's reason. "
        "Results come a page at a time (resultsLimit, up to 5,000, and 4 MB): while nextResultsToken is not "
        "null, send it as resultsToken for the next page; counts are always the whole batch's, and a batch of "
        "up to 5,000 assignments answers in one page. Admins, and Timerack service reps for the clients they "
        "can see; 404 when absent or not visible; a resultsToken of another batch is 422."
    ),
)
def get_payroll_history(
    batch_id: BatchId,
    results_limit: ResultsLimit = RESULTS_PAGE_MAX,
    results_token: ResultsToken = None,
) -> BatchResultPage:
    batch = _visible_batch(admin_or_timerack_access(router), batch_id)  # 404 first: a token shows nothing
    return results_page(batch, _results_offset(results_token, batch), results_limit)


@router.get(
    "/v1/payroll-history/<batch_id>/report.csv",
    tags=[PAYROLL_HISTORY],
    summary="Download a batch's report as CSV",
    description=(
        "The batch's results as CSV, one row per assignment and pay code: Assignment ID, Employee ID, Pay "
        "Code, Weekend Bill, Status, Error Message. Admins, and Timerack service reps for the clients they "
        "can see; 404 when absent or not visible; 409 while the batch is still processing (its report comes "
        "with status completed) or when it failed (send it again)."
    ),
)
def get_payroll_history_report(batch_id: BatchId) -> Response[str]:
    batch = _visible_batch(admin_or_timerack_access(router), batch_id)
    if batch.status == "processing":
        # An accepted batch's results are not written yet: an empty report would read as a batch of nothing.
        raise ConflictError(f"batch {batch_id} is still processing; its report is ready once its status is completed")
    if batch.status == "failed":
        raise ConflictError(f"batch {batch_id} failed and has no report; send it again")
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=render_csv(batch.results),
        headers={"Content-Disposition": f'attachment; filename="payroll-history-{batch_id}.csv"'},
    )
