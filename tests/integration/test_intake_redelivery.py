"""A batch run twice with the same batch id and version (an SQS redelivery after a crash mid-batch)
reports what one run reports: the units its first run wrote keep their result, never "superseded".

Each unit header keeps the result of the send that wrote it (`send_result`) and the pay codes that
send removed (`removed_pay_codes`); planned again by that same send, the unit is "written".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import WEEKEND_BILL, Agency
from tests.hardening.test_faults import assert_whole, cards, header, submit, unit_view
from tests.integration.test_intake_groups import add_assignments, logged

# The batch: 4001 replaces an earlier REG+DT (DT removed), 4002 is new, 4003 replaces an earlier REG.
BATCH = [(4001, 501, "REG", 8.0), (4001, 501, "OT", 2.0), (4002, 501, "REG", 7.5), (4003, 501, "REG", 6.0)]
EARLIER = [(4001, 501, "REG", 9.0), (4001, 501, "DT", 3.0), (4003, 501, "REG", 5.0)]
TWIN = 1000  # 5001..5003: the same sends, run once without a fault


def twin(specs: list[tuple[int, int, str, float]]) -> list[tuple[int, int, str, float]]:
    return [(a + TWIN, e, c, h) for a, e, c, h in specs]


def reported(result: Any, offset: int = 0) -> dict[int, tuple[str, list[str], str | None]]:
    return {r.assignment_id - offset: (r.status, r.warnings, r.error) for r in result.results}


@pytest.fixture
def one_unit_a_transaction(services: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from timerack_bridge.logic import intake

    # One unit per transaction, one at a time: the batch can stop between two of its transactions
    monkeypatch.setattr(intake, "MAX_TRANSACTION_ACTIONS", 1)
    services.settings = services.settings.model_copy(update={"write_parallelism": 1})


@pytest.mark.parametrize("transactions_before_the_crash", [1, 2])
def test_a_batch_run_again_after_a_crash_reports_what_one_run_reports(
    transactions_before_the_crash: int,
    services: Any,
    agency: Agency,
    one_unit_a_transaction: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from timerack_bridge.logic import intake

    # Given earlier sends of 4001 and 4003 (and of their twins), and the batch run once on the twins
    add_assignments(services, [4001, 4002, 4003, 5001, 5002, 5003])
    submit(services, cards(*EARLIER, *twin(EARLIER)))
    once = submit(services, cards(*twin(BATCH)))
    # When the batch's first run stops after its first transactions (the worker crashed)
    monkeypatch.setattr(intake, "new_batch_id", lambda now: "20261123T100000-redelivered")
    sent_at = datetime.now(UTC)
    landed: list[int] = []

    def crash(assignment_id: int) -> None:
        if len(landed) == transactions_before_the_crash:
            raise SystemExit("the worker died")
        landed.append(assignment_id)

    with pytest.raises(SystemExit):
        submit(services, cards(*BATCH), now=sent_at, before_unit_write=crash)
    # And the same batch (same id, same version) runs again
    log = logged(services)
    again = submit(services, cards(*BATCH), now=sent_at)
    # Then it reports exactly what the batch run once reports: created/replaced, the removed DT, no error
    assert again.batch_id == "20261123T100000-redelivered"
    assert reported(again) == reported(once, TWIN)
    assert reported(again)[4001] == ("replaced", ["pay code DT was not in this send and was removed"], None)
    assert (again.counts.created, again.counts.replaced, again.counts.errors) == (1, 2, 0)
    # And every unit is whole, as the clean run left its twin, written once by this batch
    for assignment_id in (4001, 4002, 4003):
        assert_whole(services, assignment_id)
        assert unit_view(services, assignment_id) == unit_view(services, assignment_id + TWIN)
        mine = [v for v in services.timecards.versions(assignment_id, WEEKEND_BILL) if v["batch_id"] == again.batch_id]
        assert len(mine) == 1
    # And the second run wrote only the units the first had not
    written = [units for outcome, units, _ in log.of_batch(again.batch_id) if outcome == "written"]
    assert written == [[a] for a in (4001, 4002, 4003)[transactions_before_the_crash:]]


def test_the_unit_header_keeps_the_result_of_the_send_that_wrote_it(services: Any, agency: Agency) -> None:
    add_assignments(services, [4001, 4002, 4003])
    submit(services, cards(*EARLIER))
    submit(services, cards(*BATCH))
    first, second, third = (header(services, a) for a in (4001, 4002, 4003))
    assert first is not None and second is not None and third is not None
    assert (first["send_result"], first["removed_pay_codes"]) == ("replaced", ["DT"])
    assert (second["send_result"], "removed_pay_codes" in second) == ("created", False)
    assert (third["send_result"], "removed_pay_codes" in third) == ("replaced", False)
    state = services.timecards.unit_state(4001, WEEKEND_BILL)
    assert (state.send_result, state.removed_pay_codes) == ("replaced", ("DT",))


def test_a_header_written_before_it_kept_the_result_still_reads(services: Any, agency: Agency) -> None:
    add_assignments(services, [4002])
    submit(services, cards((4002, 501, "REG", 7.5)))
    services.timecards.client.update_item(
        TableName=services.settings.table_name,
        Key={"pk": {"S": "ASSIGNMENT#4002"}, "sk": {"S": f"UNIT#{WEEKEND_BILL.isoformat()}"}},
        UpdateExpression="REMOVE send_result",
    )
    state = services.timecards.unit_state(4002, WEEKEND_BILL)
    assert (state.send_result, state.removed_pay_codes) == (None, ())


def test_a_unit_sent_to_payroll_between_the_two_runs_keeps_its_result(
    services: Any, agency: Agency, one_unit_a_transaction: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from timerack_bridge.logic import intake

    # Given the batch's first run wrote 4001 (replacing REG+DT) and died; then the week went to payroll
    add_assignments(services, [4001, 4002, 4003])
    submit(services, cards(*EARLIER))
    monkeypatch.setattr(intake, "new_batch_id", lambda now: "20261123T100000-redelivered")
    sent_at = datetime.now(UTC)

    def crash_after_4001(assignment_id: int) -> None:
        if assignment_id != 4001:
            raise SystemExit("the worker died")

    with pytest.raises(SystemExit):
        submit(services, cards(*BATCH), now=sent_at, before_unit_write=crash_after_4001)
    [locked] = [h for h in services.timecards.week_unit_headers(WEEKEND_BILL) if h["assignment_id"] == 4001]
    assert services.timecards.lock_unit(locked) == "locked"
    # When the same batch runs again
    again = submit(services, cards(*BATCH), now=sent_at)
    # Then 4001 is still this batch's replacement, not "already sent to payroll"; the others are written
    assert reported(again) == {
        4001: ("replaced", ["pay code DT was not in this send and was removed"], None),
        4002: ("created", [], None),
        4003: ("replaced", [], None),
    }
