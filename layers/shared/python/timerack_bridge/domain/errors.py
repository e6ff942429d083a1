"""Per-assignment error texts. The first four are the Timerack article's, verbatim."""

from __future__ import annotations

from datetime import date

HIERARCHY_LEVEL = "You can not insert master table data into the system at this hierarchy level."
NO_OPEN_WEEKS = "There are currently no open weeks visible."


def assignment_not_found(assignment_id: int) -> str:
    return f"The Assignment with an Id of {assignment_id} could not be found or is not currently visible."


def assignment_status_blocked(assignment_id: int) -> str:
    return f"The Assignment with an Id of {assignment_id} has a status that does not allow timecards to be created."


def already_sent_to_payroll(assignment_id: int, weekend_bill: date) -> str:
    return (
        f"The timecard for Assignment {assignment_id} for the week ending {weekend_bill.isoformat()} "
        "has already been sent to payroll and cannot be replaced."
    )


def superseded(assignment_id: int, weekend_bill: date) -> str:
    return (
        f"The timecard for Assignment {assignment_id} for the week ending {weekend_bill.isoformat()} "
        "was already replaced by a newer send; this older send was not applied."
    )


def punches_overlap(assignment_id: int, on: date, first: str, second: str) -> str:
    return (
        f"The timecard for Assignment {assignment_id} has punches that overlap on {on.isoformat()}: "
        f"{first} and {second}. The same time cannot be paid twice."
    )
