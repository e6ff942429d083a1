"""Admin data: hierarchy, service reps, security groups, customers, employees, assignments, weeks."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.exceptions import ConflictError
from timerack_bridge.models import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    PayrollEmail,
    SecurityGroup,
    ServiceRep,
    Week,
    WeekStatus,
)
from timerack_bridge.store.base import TableStore, decode_token, encode, encode_token, key, strip_keys


def _id12(value: int) -> str:
    return f"{value:012d}"


# What belongs to a customer, in one gsi2 partition UNDER#{customerId}: its assignments, then its
# child customers ("A" sorts before "C"), so the export reads a customer's part of a client in one Query.
_ASSIGNMENT = "ASSIGNMENT#"
_CHILD = "CUSTOMER#"


class AdminStore(TableStore):
    # ------------------------------------------------------------ hierarchy
    def put_node(self, node: HierarchyNode) -> None:
        self.put({"pk": "HIERARCHY", "sk": f"NODE#{node.node_id}", **node.model_dump(mode="json")})

    def list_nodes(self) -> list[HierarchyNode]:
        return [HierarchyNode(**strip_keys(i)) for i in self.query_partition("HIERARCHY", "NODE#")]

    # ------------------------------------------------------------ service reps
    def put_rep(self, rep: ServiceRep) -> None:
        """Store a rep; its principal is unique across reps (409 otherwise)."""
        previous = self.get(f"REP#{rep.rep_id}", "REP", consistent=True)
        self._transact_with_claim(
            item={"pk": f"REP#{rep.rep_id}", "sk": "REP", **rep.model_dump(mode="json")},
            claim_pk=f"PRINCIPAL#{rep.principal}",
            owner=rep.rep_id,
            old_claim_pk=(
                f"PRINCIPAL#{previous['principal']}" if previous and previous["principal"] != rep.principal else None
            ),
            conflict=f"principal {rep.principal} already belongs to another service rep",
        )

    def get_rep(self, rep_id: str) -> ServiceRep | None:
        item = self.get(f"REP#{rep_id}", "REP")
        return ServiceRep(**strip_keys(item)) if item else None

    def get_rep_by_principal(self, principal: str) -> ServiceRep | None:
        claim = self.get(f"PRINCIPAL#{principal}", "CLAIM")
        return self.get_rep(claim["owner"]) if claim else None

    # ------------------------------------------------------------ security groups
    def put_group(self, group: SecurityGroup) -> None:
        self.put({"pk": "SECGROUPS", "sk": f"GROUP#{group.name}", **group.model_dump(mode="json")})

    def list_groups(self) -> list[SecurityGroup]:
        return [SecurityGroup(**strip_keys(i)) for i in self.query_partition("SECGROUPS", "GROUP#")]

    # ------------------------------------------------------------ customers
    def put_customer(self, customer: Customer) -> None:
        """Store a customer; a Timerack Client Key belongs to one Primary Customer only (409 otherwise)."""
        item: dict[str, Any] = {
            "pk": f"CUSTOMER#{customer.customer_id}",
            "sk": "CUSTOMER",
            **customer.model_dump(mode="json"),
        }
        if customer.timerack_client_key:
            item |= {"gsi1pk": "CLIENTS", "gsi1sk": customer.timerack_client_key}
        if customer.parent_customer_id is not None:
            item |= {
                "gsi2pk": f"UNDER#{customer.parent_customer_id}",
                "gsi2sk": f"{_CHILD}{_id12(customer.customer_id)}",
            }
        previous = self.get(f"CUSTOMER#{customer.customer_id}", "CUSTOMER", consistent=True)
        old_key = previous.get("timerack_client_key") if previous else None
        new_key = customer.timerack_client_key
        self._transact_with_claim(
            item=item,
            claim_pk=f"CLIENTKEY#{new_key}" if new_key else None,
            owner=str(customer.customer_id),
            old_claim_pk=f"CLIENTKEY#{old_key}" if old_key and old_key != new_key else None,
            conflict=f"Timerack Client Key {new_key} already belongs to another Primary Customer",
        )

    def get_customer(self, customer_id: int) -> Customer | None:
        item = self.get(f"CUSTOMER#{customer_id}", "CUSTOMER")
        return Customer(**strip_keys(item)) if item else None

    def get_customer_by_client_key(self, client_key: str) -> Customer | None:
        claim = self.get(f"CLIENTKEY#{client_key}", "CLAIM")
        return self.get_customer(int(claim["owner"])) if claim else None

    def iter_clients(self) -> Iterator[Customer]:
        """Every Primary Customer with a Timerack Client Key, page by page (never held all at once)."""
        for item in self.iter_index("gsi1", "CLIENTS"):
            yield Customer(**strip_keys(item))

    def child_customers(self, customer_id: int) -> list[Customer]:
        return [Customer(**strip_keys(i)) for i in self.iter_index("gsi2", f"UNDER#{customer_id}", _CHILD)]

    def customer_tree_ids(self, customer_id: int) -> set[int]:
        """The customer and all its descendants (child customers, their children, ...)."""
        ids, frontier = {customer_id}, [customer_id]
        while frontier:
            current = frontier.pop()
            for child in self.child_customers(current):
                if child.customer_id not in ids:
                    ids.add(child.customer_id)
                    frontier.append(child.customer_id)
        return ids

    # ------------------------------------------------------------ employees
    def put_employee(self, employee: Employee) -> None:
        self.put(
            {
                "pk": f"EMPLOYEE#{employee.employee_id}",
                "sk": "EMPLOYEE",
                "gsi1pk": f"PINOVERRIDE#{str(employee.has_pin_override).lower()}",
                "gsi1sk": f"EMPLOYEE#{_id12(employee.employee_id)}",
                **employee.model_dump(mode="json"),
            }
        )

    def get_employee(self, employee_id: int) -> Employee | None:
        item = self.get(f"EMPLOYEE#{employee_id}", "EMPLOYEE")
        return Employee(**strip_keys(item)) if item else None

    def batch_get_employees(self, employee_ids: Sequence[int]) -> dict[int, Employee]:
        found = self.batch_get([(f"EMPLOYEE#{i}", "EMPLOYEE") for i in employee_ids])
        return {item["employee_id"]: Employee(**strip_keys(item)) for item in found.values()}

    def search_employees(
        self, *, has_pin_override: bool, limit: int, next_token: str | None
    ) -> tuple[list[Employee], str | None]:
        items, last = self.query_index(
            "gsi1", f"PINOVERRIDE#{str(has_pin_override).lower()}", limit=limit, start=decode_token(next_token)
        )
        return [Employee(**strip_keys(i)) for i in items], encode_token(last)

    # ------------------------------------------------------------ assignments
    def put_assignment(self, assignment: Assignment) -> None:
        self.put(
            {
                "pk": f"ASSIGNMENT#{assignment.assignment_id}",
                "sk": "ASSIGNMENT",
                "gsi2pk": f"UNDER#{assignment.customer_id}",
                "gsi2sk": f"{_ASSIGNMENT}{_id12(assignment.assignment_id)}",
                **assignment.model_dump(mode="json"),
            }
        )

    def get_assignment(self, assignment_id: int) -> Assignment | None:
        item = self.get(f"ASSIGNMENT#{assignment_id}", "ASSIGNMENT")
        return Assignment(**strip_keys(item)) if item else None

    def batch_get_assignments(self, assignment_ids: Sequence[int], *, workers: int = 1) -> dict[int, Assignment]:
        found = self.batch_get([(f"ASSIGNMENT#{i}", "ASSIGNMENT") for i in assignment_ids], workers=workers)
        return {item["assignment_id"]: Assignment(**strip_keys(item)) for item in found.values()}

    def iter_customer_assignments(self, customer_id: int) -> Iterator[Assignment]:
        for item in self.iter_index("gsi2", f"UNDER#{customer_id}", _ASSIGNMENT):
            yield Assignment(**strip_keys(item))

    def iter_customer_contents(self, customer_id: int) -> Iterator[Assignment | Customer]:
        """The customer's assignments, then its child customers: one index partition, page by page."""
        for item in self.iter_index("gsi2", f"UNDER#{customer_id}"):
            if item["gsi2sk"].startswith(_CHILD):
                yield Customer(**strip_keys(item))
            else:
                yield Assignment(**strip_keys(item))

    # ------------------------------------------------------------ weeks
    def put_week(self, week: Week) -> None:
        self.put(
            {
                "pk": f"WEEKS#{week.hierarchy_node_id}",
                "sk": f"WEEK#{week.weekend_bill.isoformat()}",
                **week.model_dump(mode="json"),
            }
        )

    def open_weeks(self, node_id: str) -> list[date]:
        """Open weekend bills on one node, oldest first."""
        items = self.query_all(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
            FilterExpression="#s = :open",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":pk": {"S": f"WEEKS#{node_id}"},
                ":sk": {"S": "WEEK#"},
                ":open": {"S": WeekStatus.OPEN.value},
            },
        )
        return [date.fromisoformat(i["weekend_bill"]) for i in items]

    # ------------------------------------------------------------ payroll email settings
    def put_payroll_email(self, settings: PayrollEmail) -> None:
        self.put({"pk": f"CLIENTKEY#{settings.client_key}", "sk": "PAYROLLEMAIL", **settings.model_dump(mode="json")})

    def get_payroll_email(self, client_key: str) -> PayrollEmail:
        item = self.get(f"CLIENTKEY#{client_key}", "PAYROLLEMAIL")
        if not item:
            return PayrollEmail(client_key=client_key)
        return PayrollEmail(**strip_keys(item))

    # ------------------------------------------------------------ helpers
    def _transact_with_claim(
        self,
        *,
        item: dict[str, Any],
        claim_pk: str | None,
        owner: str,
        old_claim_pk: str | None,
        conflict: str,
    ) -> None:
        """Write an item and its unique claim in one transaction; a claim held by another owner is 409."""
        actions: list[dict[str, Any]] = [{"Put": {"TableName": self.table_name, "Item": encode(item)}}]
        if claim_pk:
            actions.append(
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": encode({"pk": claim_pk, "sk": "CLAIM", "owner": owner}),
                        "ConditionExpression": "attribute_not_exists(pk) OR #o = :owner",
                        "ExpressionAttributeNames": {"#o": "owner"},
                        "ExpressionAttributeValues": {":owner": {"S": owner}},
                    }
                }
            )
        if old_claim_pk:
            actions.append(
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": key(old_claim_pk, "CLAIM"),
                        "ConditionExpression": "attribute_not_exists(pk) OR #o = :owner",
                        "ExpressionAttributeNames": {"#o": "owner"},
                        "ExpressionAttributeValues": {":owner": {"S": owner}},
                    }
                }
            )
        try:
            self.client.transact_write_items(TransactItems=actions)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "TransactionCanceledException":
                reasons = exc.response.get("CancellationReasons", [])
                if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons):
                    raise ConflictError(conflict) from None
            raise
