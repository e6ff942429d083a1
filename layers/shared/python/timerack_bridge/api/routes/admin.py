"""Admin routes (TempWorks side): the data the checks need. All need scope timerack/admin."""

from __future__ import annotations

from typing import Annotated, TypeVar

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query

from timerack_bridge.api.models import examples
from timerack_bridge.api.models.input import (
    AssignmentIn,
    CustomerIn,
    EmployeeIn,
    HierarchyNodeIn,
    SecurityGroupIn,
    ServiceRepIn,
    WeekIn,
)
from timerack_bridge.api.models.output import (
    AssignmentPage,
    CustomerPage,
    EmployeeOut,
    EmployeePage,
    HierarchyOut,
    SecurityGroupPage,
    ServiceRepPage,
    WeekPage,
)
from timerack_bridge.api.routes.common import admin_caller, services_of
from timerack_bridge.api.swagger import ADMIN_DATA
from timerack_bridge.domain.entities import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    SecurityGroup,
    ServiceRep,
    Week,
)
from timerack_bridge.domain.types import AssignmentStatus, ClientKey, IdText, IsoDate
from timerack_bridge.exceptions import NotFoundError, UnprocessableError
from timerack_bridge.logic import admin_checks as checks

router = Router()

NodeId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@\-]+$")]
RecordIdPath = Annotated[IdText, Path(ge=1, le=2**53)]
GroupNamePath = Annotated[str, Path(min_length=1, max_length=128)]
NodeQuery = Annotated[
    str, Query(alias="hierarchyNodeId", min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:@\-]+$")
]
Limit = Annotated[int, Query(ge=1, le=500)]
NextToken = Annotated[str | None, Query(alias="nextToken", max_length=2048)]


@router.put(
    "/v1/hierarchy/<node_id>",
    tags=[ADMIN_DATA],
    summary="Add or change a hierarchy node",
    description=(
        "Stores a branch, region or other level of the hierarchy under its parent. Admins only (scope "
        "timerack/admin); anyone else 403. An unknown parent or a loop in the tree is 422; sending the stored "
        "node again changes nothing."
    ),
)
def put_hierarchy_node(
    node_id: NodeId, body: Annotated[HierarchyNodeIn, Body(openapi_examples=examples.HIERARCHY_NODE)]
) -> HierarchyNode:
    admin_caller(router)
    node = HierarchyNode(node_id=node_id, **body.model_dump())
    store = services_of(router).admin
    checks.unless_unchanged(lambda: checks.check_node(store, node), lambda: store.get_node(node_id), node)
    store.put_node(node)
    return node


@router.put(
    "/v1/service-reps/<rep_id>",
    tags=[ADMIN_DATA],
    summary="Add or change a service rep",
    description=(
        "Stores a service rep: the TempWorks user (their sign-in's principal) and the hierarchy node they "
        "work at. Admins only (scope timerack/admin); anyone else 403. A principal another rep holds is 409; "
        "an unknown node 422."
    ),
)
def put_service_rep(
    rep_id: NodeId, body: Annotated[ServiceRepIn, Body(openapi_examples=examples.SERVICE_REP)]
) -> ServiceRep:
    admin_caller(router)
    rep = ServiceRep(rep_id=rep_id, **body.model_dump())
    store = services_of(router).admin
    checks.unless_unchanged(
        lambda: checks.require_node(store, rep.current_hierarchy_node_id), lambda: store.get_rep(rep_id), rep
    )
    store.put_rep(rep)
    return rep


@router.put(
    "/v1/security-groups/<name>",
    tags=[ADMIN_DATA],
    summary="Add or change a security group",
    description=(
        'Stores a security group: its node, its permissions ("Timerack" lets members use the integration) and '
        "its members (service rep ids). Admins only (scope timerack/admin); anyone else 403. An unknown node "
        "or rep is 422."
    ),
)
def put_security_group(
    name: GroupNamePath, body: Annotated[SecurityGroupIn, Body(openapi_examples=examples.SECURITY_GROUP)]
) -> SecurityGroup:
    admin_caller(router)
    group = SecurityGroup(name=name, **body.model_dump())
    store = services_of(router).admin
    checks.unless_unchanged(lambda: checks.check_group(store, group), lambda: store.get_group(name), group)
    store.put_group(group)
    return group


@router.put(
    "/v1/customers/<customer_id>",
    tags=[ADMIN_DATA],
    summary="Add or change a customer",
    description=(
        "Stores a customer with its node, its parent (none for a Primary Customer), its Timerack Client Key "
        "and mode (Connect or manual import). Admins only (scope timerack/admin); anyone else 403. A key "
        "another customer holds is 409; a key on a customer with a parent, or an unknown node or parent, is "
        "422. A new or changed Client Key, a client's new name or a move to another parent queues the clients "
        "concerned for export to Timerack within seconds."
    ),
)
def put_customer(
    customer_id: RecordIdPath, body: Annotated[CustomerIn, Body(openapi_examples=examples.CUSTOMER)]
) -> Customer:
    from timerack_bridge.logic.export_changes import customer_saved

    admin_caller(router)
    customer = Customer(customer_id=customer_id, **body.model_dump())
    services = services_of(router)
    store = services.admin
    before = store.get_customer(customer_id)
    checks.unless_unchanged(lambda: checks.check_customer(store, customer), lambda: before, customer)
    store.put_customer(customer)
    # A change to what the export sends queues the clients it touches (a burst of saves: once each).
    customer_saved(services, before, customer)
    return customer


@router.put(
    "/v1/employees/<employee_id>",
    tags=[ADMIN_DATA],
    summary="Add or change an employee",
    description=(
        "Stores an employee. The SSN is write-only: only its last four digits are kept (for the default PIN), "
        "and left out the stored last four stay; a PIN override is six digits. Admins only (scope "
        "timerack/admin); anyone else 403. A malformed SSN or PIN, or an unknown node, is 422. Never answers "
        "with an SSN or a PIN. A changed PIN override, SSN, birth date or name queues the employee's clients "
        "for export to Timerack within seconds."
    ),
)
def put_employee(
    employee_id: RecordIdPath, body: Annotated[EmployeeIn, Body(openapi_examples=examples.EMPLOYEE)]
) -> EmployeeOut:
    """Store an employee. The SSN is reduced to its last four; omitted, the stored last four stay."""
    from timerack_bridge.logic.export_changes import employee_saved

    admin_caller(router)
    services = services_of(router)
    store = services.admin
    before = store.get_employee(employee_id)
    ssn_last4 = body.ssn
    if ssn_last4 is None:
        ssn_last4 = before.ssn_last4 if before else None
    employee = Employee(
        employee_id=employee_id,
        first_name=body.first_name,
        last_name=body.last_name,
        birth_date=body.birth_date,
        ssn_last4=ssn_last4,
        hierarchy_node_id=body.hierarchy_node_id,
        pin_override=body.pin_override,
    )
    checks.unless_unchanged(lambda: checks.require_node(store, employee.hierarchy_node_id), lambda: before, employee)
    store.put_employee(employee)
    # A change to what the export sends queues the clients it touches (a burst of saves: once each).
    employee_saved(services, before, employee)
    return EmployeeOut.of(employee)


@router.get(
    "/v1/employees/<employee_id>",
    tags=[ADMIN_DATA],
    summary="Look up an employee",
    description=(
        "One employee, with hasSsn and hasPinOverride instead of the SSN and PIN. Admins only (scope "
        "timerack/admin); anyone else 403. 404 when absent."
    ),
)
def get_employee(employee_id: RecordIdPath) -> EmployeeOut:
    admin_caller(router)
    employee = services_of(router).admin.get_employee(employee_id)
    if employee is None:
        raise NotFoundError(f"employee {employee_id} not found")
    return EmployeeOut.of(employee)


@router.get(
    "/v1/employees",
    tags=[ADMIN_DATA],
    summary="Find employees with (or without) a PIN override",
    description=(
        "The enhanced search: the employees whose PIN is overridden (hasPinOverride=true) or not, a page at a "
        "time (limit, nextToken). Admins only (scope timerack/admin); anyone else 403."
    ),
)
def search_employees(
    has_pin_override: Annotated[bool, Query(alias="hasPinOverride")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    next_token: Annotated[str | None, Query(alias="nextToken", max_length=2048)] = None,
) -> EmployeePage:
    """The enhanced search: employees with (or without) a PIN override."""
    admin_caller(router)
    employees, token = services_of(router).admin.search_employees(
        has_pin_override=has_pin_override, limit=limit, next_token=next_token
    )
    return EmployeePage(items=[EmployeeOut.of(e) for e in employees], next_token=token)


@router.put(
    "/v1/assignments/<assignment_id>",
    tags=[ADMIN_DATA],
    summary="Add or change an assignment",
    description=(
        "Stores an assignment of an employee at a customer: its node, status (Active, Complete, Cancelled...) "
        "and dates. Admins only (scope timerack/admin); anyone else 403. An unknown employee, customer or "
        "node is 422. A change Timerack is sent (status, dates, customer, employee, job title) queues the "
        "clients concerned (before and after a move) for export within seconds."
    ),
)
def put_assignment(
    assignment_id: RecordIdPath, body: Annotated[AssignmentIn, Body(openapi_examples=examples.ASSIGNMENT)]
) -> Assignment:
    from timerack_bridge.logic.export_changes import assignment_saved

    admin_caller(router)
    assignment = Assignment(assignment_id=assignment_id, **body.model_dump())
    services = services_of(router)
    store = services.admin
    before = store.get_assignment(assignment_id)
    checks.unless_unchanged(lambda: checks.check_assignment(store, assignment), lambda: before, assignment)
    store.put_assignment(assignment)
    # A change to what the export sends queues the clients it touches (a burst of saves: once each).
    assignment_saved(services, before, assignment)
    return assignment


@router.put(
    "/v1/weeks/<weekend_bill>",
    tags=[ADMIN_DATA],
    summary="Open or close a week",
    description=(
        "Opens or closes the week ending weekendBill at a hierarchy node: timecards are taken only for open "
        "weeks. Admins only (scope timerack/admin); anyone else 403. A date that is not the agency's "
        "week-ending day, or an unknown node, is 422."
    ),
)
def put_week(
    weekend_bill: Annotated[IsoDate, Path()], body: Annotated[WeekIn, Body(openapi_examples=examples.WEEK)]
) -> Week:
    admin_caller(router)
    week = Week(weekend_bill=weekend_bill, **body.model_dump())
    services = services_of(router)
    checks.check_week(services.admin, week, services.settings.week_ending_day)
    services.admin.put_week(week)
    return week


# ---------------------------------------------------------------- reading the admin data back

_Record = TypeVar("_Record")


def _found(record: _Record | None, what: str) -> _Record:
    if record is None:
        raise NotFoundError(f"{what} not found")
    return record


@router.get(
    "/v1/hierarchy",
    tags=[ADMIN_DATA],
    summary="See the whole hierarchy",
    description=(
        "Every hierarchy node with its parent: the whole tree in one reply. Admins only (scope "
        "timerack/admin); anyone else 403."
    ),
)
def list_hierarchy() -> HierarchyOut:
    """The whole hierarchy tree (one Query of its partition): every node with its parent."""
    admin_caller(router)
    return HierarchyOut(items=services_of(router).admin.list_nodes())


@router.get(
    "/v1/hierarchy/<node_id>",
    tags=[ADMIN_DATA],
    summary="Look up a hierarchy node",
    description=(
        "One hierarchy node with its parent and whether it allows master data. Admins only (scope "
        "timerack/admin); anyone else 403. 404 when absent."
    ),
)
def get_hierarchy_node(node_id: NodeId) -> HierarchyNode:
    admin_caller(router)
    return _found(services_of(router).admin.get_node(node_id), f"hierarchy node {node_id}")


@router.get(
    "/v1/service-reps",
    tags=[ADMIN_DATA],
    summary="List the service reps",
    description=(
        "The service reps by rep id, a page at a time (limit, nextToken). Admins only (scope timerack/admin); "
        "anyone else 403."
    ),
)
def list_service_reps(limit: Limit = 100, next_token: NextToken = None) -> ServiceRepPage:
    admin_caller(router)
    reps, token = services_of(router).admin.rep_page(limit=limit, next_token=next_token)
    return ServiceRepPage(items=reps, next_token=token)


@router.get(
    "/v1/service-reps/<rep_id>",
    tags=[ADMIN_DATA],
    summary="Look up a service rep",
    description=(
        "One service rep: name, principal and current hierarchy node. Admins only (scope timerack/admin); "
        "anyone else 403. 404 when absent."
    ),
)
def get_service_rep(rep_id: NodeId) -> ServiceRep:
    admin_caller(router)
    return _found(services_of(router).admin.get_rep(rep_id), f"service rep {rep_id}")


@router.get(
    "/v1/security-groups",
    tags=[ADMIN_DATA],
    summary="List the security groups",
    description=(
        "The security groups by name, a page at a time (limit, nextToken). Admins only (scope "
        "timerack/admin); anyone else 403."
    ),
)
def list_security_groups(limit: Limit = 100, next_token: NextToken = None) -> SecurityGroupPage:
    admin_caller(router)
    groups, token = services_of(router).admin.group_page(limit=limit, next_token=next_token)
    return SecurityGroupPage(items=groups, next_token=token)


@router.get(
    "/v1/security-groups/<name>",
    tags=[ADMIN_DATA],
    summary="Look up a security group",
    description=(
        "One security group with its node, permissions and members. Admins only (scope timerack/admin); "
        "anyone else 403. 404 when absent."
    ),
)
def get_security_group(name: GroupNamePath) -> SecurityGroup:
    admin_caller(router)
    return _found(services_of(router).admin.get_group(name), f"security group {name}")


@router.get(
    "/v1/customers",
    tags=[ADMIN_DATA],
    summary="List customers, or find one by Client Key",
    description=(
        "The Primary Customers; with parentCustomerId that customer's children; with clientKey the Primary "
        "Customer holding that Timerack Client Key (one or none). Admins only (scope timerack/admin); anyone "
        "else 403. clientKey with another filter or a nextToken is 422."
    ),
)
def list_customers(
    client_key: Annotated[ClientKey | None, Query(alias="clientKey")] = None,
    parent_customer_id: Annotated[IdText | None, Query(alias="parentCustomerId", ge=1, le=2**53)] = None,
    limit: Limit = 100,
    next_token: NextToken = None,
) -> CustomerPage:
    """The Primary Customers; with `parentCustomerId`, that customer's children; with `clientKey`, the
    Primary Customer holding that Timerack Client Key (one or none)."""
    admin_caller(router)
    store = services_of(router).admin
    if client_key is not None:
        if parent_customer_id is not None or next_token is not None:
            raise UnprocessableError("clientKey names one customer: give it alone")
        holder = store.get_customer_by_client_key(client_key)
        return CustomerPage(items=[holder] if holder else [])
    customers, token = store.customer_page(parent_customer_id=parent_customer_id, limit=limit, next_token=next_token)
    return CustomerPage(items=customers, next_token=token)


@router.get(
    "/v1/customers/<customer_id>",
    tags=[ADMIN_DATA],
    summary="Look up a customer",
    description=(
        "One customer with its node, parent, Client Key and Timerack mode. Admins only (scope "
        "timerack/admin); anyone else 403. 404 when absent."
    ),
)
def get_customer(customer_id: RecordIdPath) -> Customer:
    admin_caller(router)
    return _found(services_of(router).admin.get_customer(customer_id), f"customer {customer_id}")


@router.get(
    "/v1/assignments",
    tags=[ADMIN_DATA],
    summary="List a customer's or an employee's assignments",
    description=(
        "The assignments of a customer (customerId), of an employee (employeeId), or of that employee at that "
        "customer, optionally of one status, a page at a time. Admins only (scope timerack/admin); anyone "
        "else 403. Neither customerId nor employeeId is 422."
    ),
)
def list_assignments(
    customer_id: Annotated[IdText | None, Query(alias="customerId", ge=1, le=2**53)] = None,
    employee_id: Annotated[IdText | None, Query(alias="employeeId", ge=1, le=2**53)] = None,
    status: Annotated[AssignmentStatus | None, Query()] = None,
    limit: Limit = 100,
    next_token: NextToken = None,
) -> AssignmentPage:
    """A customer's or an employee's assignments (both: the employee's at that customer), by assignment
    id; `status` filters them."""
    admin_caller(router)
    assignments, token = services_of(router).admin.assignment_page(
        customer_id=customer_id, employee_id=employee_id, status=status, limit=limit, next_token=next_token
    )
    return AssignmentPage(items=assignments, next_token=token)


@router.get(
    "/v1/assignments/<assignment_id>",
    tags=[ADMIN_DATA],
    summary="Look up an assignment",
    description=(
        "One assignment with its employee, customer, node, status and dates. Admins only (scope "
        "timerack/admin); anyone else 403. 404 when absent."
    ),
)
def get_assignment(assignment_id: RecordIdPath) -> Assignment:
    admin_caller(router)
    return _found(services_of(router).admin.get_assignment(assignment_id), f"assignment {assignment_id}")


@router.get(
    "/v1/weeks",
    tags=[ADMIN_DATA],
    summary="List a node's weeks",
    description=(
        "The weeks of one hierarchy node, open or closed, oldest weekend bill first. Admins only (scope "
        "timerack/admin); anyone else 403."
    ),
)
def list_weeks(hierarchy_node_id: NodeQuery, limit: Limit = 100, next_token: NextToken = None) -> WeekPage:
    """The weeks of one hierarchy node, oldest weekend bill first."""
    admin_caller(router)
    weeks, token = services_of(router).admin.week_page(hierarchy_node_id, limit=limit, next_token=next_token)
    return WeekPage(items=weeks, next_token=token)


@router.get(
    "/v1/weeks/<weekend_bill>",
    tags=[ADMIN_DATA],
    summary="Look up a week at a node",
    description=(
        "Whether the week ending weekendBill is open or closed at the node. Admins only (scope "
        "timerack/admin); anyone else 403. 404 when absent."
    ),
)
def get_week(weekend_bill: Annotated[IsoDate, Path()], hierarchy_node_id: NodeQuery) -> Week:
    admin_caller(router)
    week = services_of(router).admin.get_week(hierarchy_node_id, weekend_bill)
    return _found(week, f"week {weekend_bill.isoformat()} of hierarchy node {hierarchy_node_id}")
