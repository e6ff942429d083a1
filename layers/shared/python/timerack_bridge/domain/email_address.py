"""An email address as the product accepts it: small on its own, since each function's settings need it at init."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

# A plain address check: one @, a dotted domain, no spaces or angle brackets (no DNS look-ups in Lambda).
EmailAddress = Annotated[
    str,
    StringConstraints(max_length=254, pattern=r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"),
]
