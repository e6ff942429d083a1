"""The export's rules as pure functions (no AWS, no environment): the window, the PINs, the problems.

The contract (docs/contract.md): a client's payload carries each assignment whose status allows timecards, that starts
no later than 14 days from today and has no end date or ended no earlier than 14 days ago, and the
employees of those assignments with their punch PIN (§3). An employee without a usable PIN, every
employee of a PIN collision and an employee that cannot be found are reported as problems and left
out, together with their assignments: Timerack never gets a PIN that would punch the wrong person.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from timerack_bridge.domain.entities import Assignment, Customer, Employee
from timerack_bridge.domain.export_models import (
    ExportAssignment,
    ExportEmployee,
    ExportPayload,
    ExportProblem,
    MissingEmployeeProblem,
    MissingPinProblem,
    PinCollisionProblem,
)
from timerack_bridge.domain.pin import PinError, effective_pin
from timerack_bridge.domain.report import neutralise

WINDOW_DAYS = 14

# Timerack's assignment import template, one row per assignment (the S3 file drop).
IMPORT_TEMPLATE_COLUMNS = (
    "Client ID",
    "Client Name",
    "Timerack Client Key",
    "Employee ID",
    "First Name",
    "Last Name",
    "PIN",
    "Assignment ID",
    "Customer ID",
    "Job Title",
    "Assignment Status",
    "Start Date",
    "End Date",
)


def in_export_window(assignment: Assignment, today: date, days: int = WINDOW_DAYS) -> bool:
    """Allows timecards, starts by today+days, and has no end or ended on or after today-days."""
    if not assignment.status.allows_timecards:
        return False
    if assignment.start_date > today + timedelta(days=days):
        return False
    return assignment.end_date is None or assignment.end_date >= today - timedelta(days=days)


def _pin_or_problem(employee: Employee) -> tuple[str | None, ExportProblem | None]:
    try:
        pin = effective_pin(employee.birth_date, employee.ssn_last4, employee.pin_override)
    except PinError:
        reason = "the PIN override on file is not 6 digits"
        pin = None
    else:
        if pin is not None:
            return pin, None
        missing = [
            what for what, value in (("birth date", employee.birth_date), ("SSN", employee.ssn_last4)) if not value
        ]
        reason = f"no PIN override and no {' or '.join(missing)} on file"
    return None, MissingPinProblem(
        employee_id=employee.employee_id,
        message=(
            f"Employee {employee.employee_id} has no usable PIN ({reason}); "
            "the employee and their assignments were not sent."
        ),
    )


def _collision_message(employee_ids: list[int]) -> str:
    names = ", ".join(str(i) for i in employee_ids[:-1]) + f" and {employee_ids[-1]}"
    return (
        f"Employees {names} have the same PIN; give all but one of them a PIN override. "
        "These employees and their assignments were not sent."
    )


def build_client_export(
    customer: Customer,
    assignments: Iterable[Assignment],
    employees: Mapping[int, Employee],
    *,
    today: date,
    generated_at: datetime,
) -> ExportPayload:
    """The payload of one client: its assignments in the window and their employees, minus the problems.

    `assignments` are those of the client's customer tree (the Primary Customer and its children);
    `employees` holds at least the employees of those assignments, by id.
    """
    if not customer.timerack_client_key:
        raise ValueError(f"customer {customer.customer_id} has no Timerack Client Key")
    current = sorted((a for a in assignments if in_export_window(a, today)), key=lambda a: a.assignment_id)

    pins, problems = _pins_of(current, employees)
    problems.extend(_drop_colliding_pins(pins))
    sent = sorted(pins)
    return ExportPayload(
        client_key=customer.timerack_client_key,
        customer_id=customer.customer_id,
        customer_name=customer.name,
        generated_at=generated_at,
        employees=[
            ExportEmployee(
                employee_id=employee_id,
                first_name=employees[employee_id].first_name,
                last_name=employees[employee_id].last_name,
                pin=pins[employee_id],
            )
            for employee_id in sent
        ],
        assignments=[
            ExportAssignment(
                assignment_id=a.assignment_id,
                employee_id=a.employee_id,
                customer_id=a.customer_id,
                status=a.status,
                start_date=a.start_date,
                end_date=a.end_date,
                job_title=a.job_title,
            )
            for a in current
            if a.employee_id in pins
        ],
        problems=sorted(problems, key=_problem_order),
    )


def _pins_of(
    current: list[Assignment], employees: Mapping[int, Employee]
) -> tuple[dict[int, str], list[ExportProblem]]:
    """Each employee's PIN, by id; an employee not found or without a PIN is a problem instead."""
    problems: list[ExportProblem] = []
    pins: dict[int, str] = {}
    for employee_id in dict.fromkeys(a.employee_id for a in current):
        employee = employees.get(employee_id)
        if employee is None:
            ids = ", ".join(str(a.assignment_id) for a in current if a.employee_id == employee_id)
            problems.append(
                MissingEmployeeProblem(
                    employee_id=employee_id,
                    message=(f"Employee {employee_id} of assignment {ids} was not found; the assignment was not sent."),
                )
            )
            continue
        pin, problem = _pin_or_problem(employee)
        if problem is not None:
            problems.append(problem)
        elif pin is not None:
            pins[employee_id] = pin
    return pins, problems


def _drop_colliding_pins(pins: dict[int, str]) -> list[ExportProblem]:
    """Employees who share a PIN are not sent (a PIN must name one employee at the clock)."""
    by_pin: dict[str, list[int]] = defaultdict(list)
    for employee_id, pin in pins.items():
        by_pin[pin].append(employee_id)
    problems: list[ExportProblem] = []
    for colliding in sorted(sorted(ids) for ids in by_pin.values() if len(ids) > 1):
        problems.append(PinCollisionProblem(employee_ids=colliding, message=_collision_message(colliding)))
        for employee_id in colliding:
            del pins[employee_id]
    return problems


def _problem_order(problem: ExportProblem) -> tuple[str, int]:
    first = problem.employee_ids[0] if isinstance(problem, PinCollisionProblem) else problem.employee_id
    return problem.type, first


def import_template_csv(payload: ExportPayload) -> str:
    """The payload as Timerack's assignment import template: one row per assignment sent."""
    names = {e.employee_id: e for e in payload.employees}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(IMPORT_TEMPLATE_COLUMNS)
    for a in payload.assignments:
        employee = names[a.employee_id]
        row = (
            payload.customer_id,
            payload.customer_name,
            payload.client_key,
            employee.employee_id,
            employee.first_name,
            employee.last_name,
            employee.pin,
            a.assignment_id,
            a.customer_id,
            a.job_title,
            a.status.value,
            a.start_date.isoformat(),
            a.end_date.isoformat() if a.end_date else "",
        )
        # Names and job titles are typed by people: never let a spreadsheet run them as formulas.
        writer.writerow([neutralise(str(cell)) for cell in row])
    return buffer.getvalue()
