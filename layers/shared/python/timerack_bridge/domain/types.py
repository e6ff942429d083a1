"""The constrained values every layer shares, and the base of every model: JSON is camelCase, Python snake_case."""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints
from pydantic.alias_generators import to_camel

TIMERACK_PERMISSION = "Timerack"

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@\-]+$")]
# JSON numbers and booleans are taken as sent: lax pydantic would read "12", 12.0 or true as 12, and 0 as false.
RecordId = Annotated[int, Strict(), Field(ge=1, le=2**53)]
JsonBool = Annotated[bool, Strict()]
JsonNumber = Annotated[float, Strict()]
# Security group names are free text ("Timerack", "Open API Timerack"), but never a path or control character.
GroupName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^/\\\x00-\x1f]+$")]
ShortText = Annotated[str, StringConstraints(max_length=200)]
ClientKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._\-]+$")]


# ASCII digits, matched whole: \d takes other scripts' digits and $ a trailing newline.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_text(value: object) -> object:
    # pydantic reads a number (or digits as text) as a Unix time: birthDate 0 would be 1970-01-01.
    if isinstance(value, date) or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]

_ID_DIGITS = re.compile(r"[0-9]{1,16}")


def _id_text(value: object) -> object:
    # A query or path is text, and int() reads "1_001", " 1001", "1001.0" and "+1001" as 1001 too.
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and _ID_DIGITS.fullmatch(value)
    ):
        return value
    raise ValueError("an id is written with the digits 0-9")


# An id in a query or path (bounds go on the Query/Path: ge=1, le=2**53).
IdText = Annotated[int, BeforeValidator(_id_text)]


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class TimerackModel(CamelModel):
    """What Timerack sends: fields we do not know are ignored, so a new Timerack field never fails a batch."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class AssignmentStatus(str, Enum):
    ACTIVE = "Active"
    COMPLETE = "Complete"
    DELETED = "Deleted/Mistakenly Entered"
    CANCELLED = "Cancelled"

    @property
    def allows_timecards(self) -> bool:
        return self in (AssignmentStatus.ACTIVE, AssignmentStatus.COMPLETE)


class TimerackMode(str, Enum):
    CONNECT = "connect"
    MANUAL_IMPORT = "manual-import"


class WeekStatus(str, Enum):
    OPEN = "open"
    CLOSED = "closed"


class PayrollStatus(str, Enum):
    OPEN = "open"
    SENT = "sent"
