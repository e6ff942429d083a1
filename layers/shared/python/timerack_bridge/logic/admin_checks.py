"""Admin data checked on the way in: what a PUT names exists, no parent makes a cycle, and only a
Primary Customer (one without a parent) holds a Timerack Client Key.

Only new PUTs are checked: records stored before the checks are still read and used, and one put
again exactly as stored is still accepted (`unless_unchanged`). One read per check, never a Scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from timerack_bridge.domain.entities import Assignment, Customer, HierarchyNode, SecurityGroup, Week
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.domain.weeks import no_open_week_for, open_weeks_at, week_ending_problem
from timerack_bridge.exceptions import ConflictError, UnprocessableError
from timerack_bridge.logic.ports import AdminRecords, WeeksReader

# (exists, its parent customer id) of a customer id
ParentOf = Callable[[int], tuple[bool, int | None]]


def node_missing(node_id: str) -> str:
    return f'hierarchy node "{node_id}" does not exist'


def unless_unchanged(check: Callable[[], None], stored: Callable[[], Any], new: Any) -> None:
    """Run the checks; a record put again exactly as it is stored passes (it was stored before them)."""
    try:
        check()
    except UnprocessableError:
        if stored() != new:
            raise


# ------------------------------------------------------------ pure checks


def node_parent_problem(tree: HierarchyTree, node: HierarchyNode) -> str | None:
    """Why the node's parent is refused: it does not exist, or it is the node or below it (a cycle)."""
    parent = node.parent_id
    if parent is None:
        return None
    if parent != node.node_id and parent not in tree.nodes:
        return node_missing(parent)
    if tree.would_cycle(node.node_id, parent):
        return f'hierarchy node "{node.node_id}" cannot have parent "{parent}": it would make a cycle in the hierarchy'
    return None


def customer_parent_problem(customer_id: int, parent_id: int, parent_of: ParentOf) -> str | None:
    """Why the parent customer is refused: it does not exist, or walking up from it reaches the customer."""
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == customer_id:
            return (
                f"customer {customer_id} cannot have parent customer {parent_id}: "
                "it would make a cycle in the customer tree"
            )
        seen.add(current)
        exists, parent = parent_of(current)
        if not exists:
            # Only the named parent must exist: a broken chain stored earlier just ends the walk.
            return f"parent customer {parent_id} does not exist" if current == parent_id else None
        current = parent
    return None


def client_key_problem(customer: Customer) -> str | None:
    """A customer with a parent is no client: its own key would make it a second one."""
    if customer.parent_customer_id is None or not customer.timerack_client_key:
        return None
    return (
        f"customer {customer.customer_id} has a parent customer ({customer.parent_customer_id}), so it cannot hold "
        f"the Timerack Client Key {customer.timerack_client_key}: only a Primary Customer (no parent) holds a key"
    )


def members_problem(members: Sequence[str], reps_found: set[str]) -> str | None:
    missing = [m for m in dict.fromkeys(members) if m not in reps_found]
    if not missing:
        return None
    if len(missing) == 1:
        return f'security group member "{missing[0]}" is not a service rep'
    return "security group members " + ", ".join(f'"{m}"' for m in missing) + " are not service reps"


def _refuse(problem: str | None) -> None:
    if problem is not None:
        raise UnprocessableError(problem)


# ------------------------------------------------------------ checks that read (one read each)


def require_node(store: AdminRecords, node_id: str) -> None:
    _refuse(None if store.get_node(node_id) is not None else node_missing(node_id))


def check_node(store: AdminRecords, node: HierarchyNode) -> None:
    if node.parent_id is not None:
        _refuse(node_parent_problem(HierarchyTree.of(store.list_nodes()), node))


def check_group(store: AdminRecords, group: SecurityGroup) -> None:
    require_node(store, group.hierarchy_node_id)
    if group.members:
        _refuse(members_problem(group.members, set(store.batch_get_reps(group.members))))


def check_customer(store: AdminRecords, customer: Customer) -> None:
    _refuse(client_key_problem(customer))
    require_node(store, customer.hierarchy_node_id)
    if customer.parent_customer_id is not None:

        def parent_of(customer_id: int) -> tuple[bool, int | None]:
            found = store.get_customer(customer_id)
            return (found is not None, found.parent_customer_id if found else None)

        _refuse(customer_parent_problem(customer.customer_id, customer.parent_customer_id, parent_of))


def check_assignment(store: AdminRecords, assignment: Assignment) -> None:
    if store.get_employee(assignment.employee_id) is None:
        raise UnprocessableError(f"employee {assignment.employee_id} does not exist")
    if store.get_customer(assignment.customer_id) is None:
        raise UnprocessableError(f"customer {assignment.customer_id} does not exist")
    require_node(store, assignment.hierarchy_node_id)


def check_week(store: AdminRecords, week: Week, week_ending_day: str) -> None:
    """The node exists and the weekend bill is on the agency's week-ending day; a week already stored at
    that node and date (before the checks) may still change status, so it can be closed."""
    problem = week_ending_problem(week.weekend_bill, week_ending_day)
    if store.get_node(week.hierarchy_node_id) is None:
        problem = node_missing(week.hierarchy_node_id)
    if problem is not None and week.weekend_bill not in store.weeks_of_node(week.hierarchy_node_id):
        raise UnprocessableError(problem)


def require_week_ending(weekend_bill: date, week_ending_day: str) -> None:
    _refuse(week_ending_problem(weekend_bill, week_ending_day))


def check_import_week(
    store: WeeksReader, tree: HierarchyTree, node_id: str, weekend_bill: date, week_ending_day: str
) -> None:
    """An import's week must be open at its customer's node: 409 naming the open weeks there, or 422 for a
    date that is not on the week-ending day (a week stored open on another day before the check still counts)."""
    open_weeks = open_weeks_at(node_id, tree, store.weeks_of_node)
    if weekend_bill in open_weeks:
        return
    _refuse(week_ending_problem(weekend_bill, week_ending_day))
    raise ConflictError(no_open_week_for(weekend_bill, node_id, open_weeks))
