"""The API's request bodies. A record's body is its fields (domain/entities.py); its key is in the path."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from timerack_bridge.domain.batch import TimecardIn
from timerack_bridge.domain.entities import (
    AssignmentFields,
    CustomerFields,
    HierarchyNodeFields,
    PayrollEmailFields,
    SecurityGroupFields,
    ServiceRepFields,
    WeekFields,
)
from timerack_bridge.domain.pin import ssn_last_four, validate_pin_override
from timerack_bridge.domain.types import CamelModel, ClientKey, Identifier, IsoDate, RecordId, TimerackModel

# ---------------------------------------------------------------- admin data


class HierarchyNodeIn(HierarchyNodeFields):
    pass


class ServiceRepIn(ServiceRepFields):
    pass


class SecurityGroupIn(SecurityGroupFields):
    pass


class CustomerIn(CustomerFields):
    pass


def _reduce_ssn(value: str | None) -> str | None:
    return None if value is None else ssn_last_four(value)


def _check_override(value: str | None) -> str | None:
    return None if value is None else validate_pin_override(value)


class EmployeeIn(CamelModel):
    first_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    last_name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    birth_date: IsoDate | None = None
    # Write-only: reduced to its last four digits before anything else sees it.
    ssn: Annotated[str | None, AfterValidator(_reduce_ssn)] = Field(default=None, repr=False)
    hierarchy_node_id: Identifier
    pin_override: Annotated[str | None, AfterValidator(_check_override)] = Field(default=None, repr=False)


class AssignmentIn(AssignmentFields):
    pass


class WeekIn(WeekFields):
    pass


class SendToPayrollIn(CamelModel):
    hierarchy_node_id: Identifier


class PayrollEmailIn(PayrollEmailFields):
    pass


# ---------------------------------------------------------------- timecards


class PayPeriod(TimerackModel):
    start: IsoDate
    end: IsoDate


class TimecardBatchIn(TimerackModel):
    client_key: ClientKey
    pay_period: PayPeriod | None = None
    # The count limit is checked by the route (413 with the limit), not here (it would be a 422).
    timecards: list[TimecardIn]

    def __repr__(self) -> str:
        # Counts, not content: Powertools logs a route's arguments with an f-string whatever the log
        # level, so the full repr of a 5,000-timecard body was built on every batch (tens of ms), and
        # it would put employees' hours into a log if debug logging were ever on.
        period = f"{self.pay_period.start}..{self.pay_period.end}" if self.pay_period else None
        count = len(self.timecards)
        return f"TimecardBatchIn(client_key={self.client_key!r}, pay_period={period!r}, timecards=<{count} timecards>)"

    __str__ = __repr__


class TimecardImportIn(CamelModel):
    feed_type: Literal["Timerack Feed"]
    parent_customer_id: RecordId
    weekend_bill: IsoDate
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    content: str

    def __repr__(self) -> str:
        # The file's size, not its rows: Powertools formats a route's arguments into a debug message
        # whatever the log level (see TimecardBatchIn.__repr__); the feed holds employees' hours.
        return (
            f"TimecardImportIn(feed_type={self.feed_type!r}, parent_customer_id={self.parent_customer_id}, "
            f"weekend_bill='{self.weekend_bill}', file_name={self.file_name!r}, content=<{len(self.content)} chars>)"
        )

    __str__ = __repr__
