"""The Timerack employee punch PIN (docs/contract.md)."""

from __future__ import annotations

import re
from datetime import date

# ASCII digits only, matched whole: \d would take other scripts' digits and $ a trailing newline,
# neither of which a timeclock keypad can enter.
_SSN = re.compile(r"[0-9]{3}-?[0-9]{2}-?([0-9]{4})")
_OVERRIDE = re.compile(r"[0-9]{6}")
_LAST_FOUR = re.compile(r"[0-9]{4}")


class PinError(ValueError):
    """An SSN or PIN override that breaks the rules (the message never holds the value)."""


def ssn_last_four(ssn: str) -> str:
    """Reduce an SSN (123-45-6789 or 123456789) to its last four digits; the rest is never kept."""
    match = _SSN.fullmatch(ssn.strip())
    if not match:
        raise PinError("ssn must be nine digits, written AAA-GG-SSSS or as nine digits in a row")
    return match.group(1)


def validate_pin_override(pin_override: str) -> str:
    """An override is exactly six digits."""
    if not _OVERRIDE.fullmatch(pin_override):
        raise PinError("pinOverride must be exactly 6 digits")
    return pin_override


def default_pin(birth_date: date, ssn_last4: str) -> str:
    """Day of the month of birth (no leading zero) followed by the SSN's last four digits."""
    if not _LAST_FOUR.fullmatch(ssn_last4):
        raise PinError("the SSN's last four must be four digits")
    return f"{birth_date.day}{ssn_last4}"


def effective_pin(birth_date: date | None, ssn_last4: str | None, pin_override: str | None) -> str | None:
    """The PIN Timerack gets: the override when set, else the default; None when neither is possible."""
    if pin_override:
        return validate_pin_override(pin_override)
    if birth_date is None or not ssn_last4:
        return None
    return default_pin(birth_date, ssn_last4)
