"""A batch body's repr is a line of counts: Powertools formats it into a debug message on every batch."""

from __future__ import annotations

from timerack_bridge.api.models.input import TimecardBatchIn


def big_batch(count: int, *, pay_period: bool = True) -> TimecardBatchIn:
    timecards = [
        {
            "assignmentId": 700_000 + n,
            "employeeId": 900_000 + n,
            "payCode": "REG",
            "days": [{"date": "2026-11-16", "hours": 7.25, "punches": [{"in": "0815", "out": "1530"}]}],
            "adjustments": [{"code": "BONUS", "amount": 12.5, "description": "safety award"}],
        }
        for n in range(count)
    ]
    body = {"clientKey": "ACME-1", "timecards": timecards}
    if pay_period:
        body["payPeriod"] = {"start": "2026-11-16", "end": "2026-11-22"}
    return TimecardBatchIn.model_validate(body)


def test_the_repr_of_a_5000_timecard_batch_is_short_and_names_no_timecard() -> None:
    text = repr(big_batch(5_000))
    assert text == (
        "TimecardBatchIn(client_key='ACME-1', pay_period='2026-11-16..2026-11-22', timecards=<5000 timecards>)"
    )
    for detail in ("700000", "900000", "REG", "7.25", "0815", "BONUS", "12.5", "safety"):
        assert detail not in text


def test_str_and_the_repr_inside_a_dict_are_the_same_line() -> None:
    batch = big_batch(3, pay_period=False)
    line = "TimecardBatchIn(client_key='ACME-1', pay_period=None, timecards=<3 timecards>)"
    assert str(batch) == line
    assert f"{ {'body': batch} }" == "{'body': " + line + "}"  # how Powertools logs the route's arguments


def test_the_model_itself_is_unchanged() -> None:
    batch = big_batch(2)
    assert [t.assignment_id for t in batch.timecards] == [700_000, 700_001]
    assert batch.model_dump(mode="json", by_alias=True)["timecards"][1]["days"][0]["punches"] == [
        {"in": "0815", "out": "1530"}
    ]


def test_the_repr_of_a_feed_import_names_its_size_not_its_rows() -> None:
    from timerack_bridge.api.routes.imports import TimecardImportIn

    content = "Assignment ID,Employee ID,Pay Code,Hours\n1001,501,REG,7.25\n" * 2_000
    body = TimecardImportIn.model_validate(
        {
            "feedType": "Timerack Feed",
            "parentCustomerId": 300,
            "weekendBill": "2026-11-22",
            "fileName": "week47.csv",
            "content": content,
        }
    )
    assert (
        repr(body)
        == str(body)
        == (
            "TimecardImportIn(feed_type='Timerack Feed', parent_customer_id=300, weekend_bill='2026-11-22', "
            f"file_name='week47.csv', content=<{len(content)} chars>)"
        )
    )
    assert "1001" not in repr(body) and "7.25" not in repr(body)
