"""What Swagger shows a payroll clerk: the route groups (tags), in order, and how an example body is written."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import Example

ADMIN_DATA = "Admin data"
TIMECARDS = "Timecards"
PAYROLL_HISTORY = "Payroll History"
EXPORTS = "Exports"
IMPORTS = "Imports"
HEALTH = "Health"

# The groups as Swagger lists them, each with what a clerk finds there.
TAGS: tuple[tuple[str, str], ...] = (
    (
        ADMIN_DATA,
        "TempWorks' records the bridge checks timecards against: the hierarchy, service reps, security "
        "groups, customers, employees, assignments and weeks. Admins only (scope timerack/admin).",
    ),
    (
        TIMECARDS,
        'Timecards from Timerack ("Send to TempWorks"), a unit\'s current timecards, proofing a week '
        "(JSON or CSV) and sending a week to payroll.",
    ),
    (
        PAYROLL_HISTORY,
        "Every batch sent, with its per-assignment results and CSV report, and the client's payroll "
        'email settings ("Receive Error File").',
    ),
    (EXPORTS, '"Update From TempWorks": sending employees and assignments to Timerack, and its runs.'),
    (IMPORTS, 'The manual Timecard Import of a "Timerack Feed" file, for clients that do not use Connect.'),
    (HEALTH, "Is the API up, and which version runs. Open to anyone."),
)


def body_example(summary: str, value: dict[str, Any], description: str | None = None) -> dict[str, Example]:
    """A request body's example as Swagger shows it (named, with a summary), without importing the
    OpenAPI models at cold start: Powertools reads them as the models when the document is built."""
    example: dict[str, Any] = {"summary": summary, "value": value}
    if description:
        example["description"] = description
    return cast("dict[str, Example]", {summary.lower().replace(" ", "-"): example})
