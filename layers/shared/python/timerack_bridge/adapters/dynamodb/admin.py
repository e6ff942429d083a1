"""Admin data: hierarchy, service reps, security groups, customers, employees, assignments, weeks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from timerack_bridge.adapters.dynamodb.base import (
    TableStore,
    decode,
    decode_token,
    encode,
    encode_token,
    key,
    strip_keys,
)
from timerack_bridge.domain.entities import (
    Assignment,
    Customer,
    Employee,
    HierarchyNode,
    PayrollEmail,
    PayrollEmailFields,
    SecurityGroup,
    ServiceRep,
    Week,
)
from timerack_bridge.domain.types import AssignmentStatus, WeekStatus
from timerack_bridge.exceptions import ConflictError, NotFoundError, UnprocessableError


def _id12(value: int) -> str:
    return f"{value:012d}"


# What belongs to a customer, in one gsi2 partition UNDER#{customerId}: its assignments, then its
# child customers ("A" sorts before "C"), so the export reads a customer's part of a client in one Query.
_ASSIGNMENT = "ASSIGNMENT#"
_CHILD = "CUSTOMER#"
# Primary Customers sit in the same index as children, under a parent no customer id can be.
_PRIMARY_CUSTOMERS = "UNDER#ROOT"
# The lists an admin reads back (gsi1). Records stored before these existed join them on their next PUT.
_REPS = "REPS"
_REP = "REP#"
_EMPLOYEE_ASSIGNMENTS = "EMPLOYEE-ASSIGNMENTS#"

Page = tuple[list[dict[str, Any]], str | None]

PAYROLL_EMAIL_SK = "PAYROLLEMAIL"  # under CUSTOMER#{id}; under CLIENTKEY#{key} on data stored before
LEGACY_SK = "LEGACY"  # CLIENTKEY#{key}: the customer its legacy records belong to
LEGACY_KEY_SK = "LEGACYKEY"  # CUSTOMER#{id}: the key string its legacy records are stored under


class AdminStore(TableStore):
    # ------------------------------------------------------------ hierarchy
    def put_node(self, node: HierarchyNode) -> None:
        self.put({"pk": "HIERARCHY", "sk": f"NODE#{node.node_id}", **node.model_dump(mode="json")})

    def list_nodes(self) -> list[HierarchyNode]:
        return [HierarchyNode(**strip_keys(i)) for i in self.query_partition("HIERARCHY", "NODE#")]

    def get_node(self, node_id: str) -> HierarchyNode | None:
        item = self.get("HIERARCHY", f"NODE#{node_id}")
        return HierarchyNode(**strip_keys(item)) if item else None

    # ------------------------------------------------------------ service reps
    def put_rep(self, rep: ServiceRep) -> None:
        """Store a rep; its principal is unique across reps (409 otherwise)."""
        previous = self.get(f"REP#{rep.rep_id}", "REP", consistent=True)
        self._transact_with_claim(
            item={
                "pk": f"REP#{rep.rep_id}",
                "sk": "REP",
                "gsi1pk": _REPS,
                "gsi1sk": f"{_REP}{rep.rep_id}",
                **rep.model_dump(mode="json"),
            },
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

    def batch_get_reps(self, rep_ids: Sequence[str]) -> dict[str, ServiceRep]:
        """The reps that exist among these ids (BatchGetItem, 100 keys a call)."""
        found = self.batch_get([(f"REP#{i}", "REP") for i in rep_ids])
        return {item["rep_id"]: ServiceRep(**strip_keys(item)) for item in found.values()}

    # ------------------------------------------------------------ security groups
    def put_group(self, group: SecurityGroup) -> None:
        self.put({"pk": "SECGROUPS", "sk": f"GROUP#{group.name}", **group.model_dump(mode="json")})

    def list_groups(self) -> list[SecurityGroup]:
        return [SecurityGroup(**strip_keys(i)) for i in self.query_partition("SECGROUPS", "GROUP#")]

    def get_group(self, name: str) -> SecurityGroup | None:
        item = self.get("SECGROUPS", f"GROUP#{name}")
        return SecurityGroup(**strip_keys(item)) if item else None

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
        parent = _PRIMARY_CUSTOMERS if customer.parent_customer_id is None else f"UNDER#{customer.parent_customer_id}"
        item |= {"gsi2pk": parent, "gsi2sk": f"{_CHILD}{_id12(customer.customer_id)}"}
        previous = self.get(f"CUSTOMER#{customer.customer_id}", "CUSTOMER", consistent=True)
        old_key = previous.get("timerack_client_key") if previous else None
        new_key = customer.timerack_client_key
        if old_key and old_key != new_key:
            # Before the key is let go (and maybe given to another customer), its legacy records stay this one's.
            self._keep_legacy_owner(old_key, customer.customer_id)
        self._transact_with_claim(
            item=item,
            claim_pk=f"CLIENTKEY#{new_key}" if new_key else None,
            owner=str(customer.customer_id),
            old_claim_pk=f"CLIENTKEY#{old_key}" if old_key and old_key != new_key else None,
            conflict=f"Timerack Client Key {new_key} already belongs to another Primary Customer",
        )

    def get_customer(self, customer_id: int, *, consistent: bool = False) -> Customer | None:
        """The customer; `consistent`: as last saved (the export worker: a change saved a moment ago counts)."""
        item = self.get(f"CUSTOMER#{customer_id}", "CUSTOMER", consistent=consistent)
        return Customer(**strip_keys(item)) if item else None

    def batch_get_customers(self, customer_ids: Sequence[int]) -> dict[int, Customer]:
        """Customers by id in bulk (BatchGetItem), for the names on a page of timecards (h11)."""
        found = self.batch_get([(f"CUSTOMER#{i}", "CUSTOMER") for i in customer_ids])
        return {item["customer_id"]: Customer(**strip_keys(item)) for item in found.values()}

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
                "gsi1pk": f"{_EMPLOYEE_ASSIGNMENTS}{assignment.employee_id}",
                "gsi1sk": f"{_ASSIGNMENT}{_id12(assignment.assignment_id)}",
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

    def employee_assignments(self, employee_id: int) -> Iterator[Assignment]:
        """Every assignment of the employee, by assignment id: one gsi1 partition, page by page (a Query)."""
        for item in self.iter_index("gsi1", f"{_EMPLOYEE_ASSIGNMENTS}{employee_id}", _ASSIGNMENT):
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

    def weeks_of_node(self, node_id: str) -> dict[date, WeekStatus]:
        """Every week of one node, open and closed, by weekend bill (one Query, no filter)."""
        return {
            date.fromisoformat(i["weekend_bill"]): WeekStatus(i["status"])
            for i in self.query_partition(f"WEEKS#{node_id}", "WEEK#")
        }

    def get_week(self, node_id: str, weekend_bill: date) -> Week | None:
        item = self.get(f"WEEKS#{node_id}", f"WEEK#{weekend_bill.isoformat()}")
        return Week(**strip_keys(item)) if item else None

    # ------------------------------------------------------------ reading back, page by page
    def rep_page(self, *, limit: int, next_token: str | None) -> tuple[list[ServiceRep], str | None]:
        """Service reps by rep id (reps stored before the REPS list join it on their next PUT)."""
        items, token = self._page("gsi1", _REPS, _REP, limit=limit, next_token=next_token)
        return [ServiceRep(**strip_keys(i)) for i in items], token

    def group_page(self, *, limit: int, next_token: str | None) -> tuple[list[SecurityGroup], str | None]:
        items, token = self._page(None, "SECGROUPS", "GROUP#", limit=limit, next_token=next_token)
        return [SecurityGroup(**strip_keys(i)) for i in items], token

    def customer_page(
        self, *, parent_customer_id: int | None, limit: int, next_token: str | None
    ) -> tuple[list[Customer], str | None]:
        """The children of a customer, or (no parent given) the Primary Customers, by customer id."""
        under = _PRIMARY_CUSTOMERS if parent_customer_id is None else f"UNDER#{parent_customer_id}"
        items, token = self._page("gsi2", under, _CHILD, limit=limit, next_token=next_token)
        return [Customer(**strip_keys(i)) for i in items], token

    def assignment_page(
        self,
        *,
        customer_id: int | None,
        employee_id: int | None,
        status: AssignmentStatus | None,
        limit: int,
        next_token: str | None,
    ) -> tuple[list[Assignment], str | None]:
        """An employee's or a customer's assignments, by assignment id; the other id and the status filter."""
        where: dict[str, Any] = {"status": status.value} if status else {}
        if employee_id is not None:
            index, partition = "gsi1", f"{_EMPLOYEE_ASSIGNMENTS}{employee_id}"
            where |= {"customer_id": customer_id} if customer_id is not None else {}
        elif customer_id is not None:
            index, partition = "gsi2", f"UNDER#{customer_id}"
        else:
            raise UnprocessableError("assignments are listed by customerId or employeeId")
        items, token = self._page(index, partition, _ASSIGNMENT, limit=limit, next_token=next_token, where=where)
        return [Assignment(**strip_keys(i)) for i in items], token

    def week_page(self, node_id: str, *, limit: int, next_token: str | None) -> tuple[list[Week], str | None]:
        """The weeks of one node, oldest weekend bill first."""
        items, token = self._page(None, f"WEEKS#{node_id}", "WEEK#", limit=limit, next_token=next_token)
        return [Week(**strip_keys(i)) for i in items], token

    def _page(
        self,
        index: str | None,
        partition: str,
        sk_prefix: str,
        *,
        limit: int,
        next_token: str | None,
        where: Mapping[str, Any] | None = None,
    ) -> Page:
        """One page of a partition (of the table or an index) in sort-key order. `where` (attribute ->
        value) is a FilterExpression; the page is still filled to `limit` while the partition has more."""
        pk, sk = (f"{index}pk", f"{index}sk") if index else ("pk", "sk")
        params: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": f"{pk} = :pk AND begins_with({sk}, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": partition}, ":prefix": {"S": sk_prefix}},
            **({"IndexName": index} if index else {}),
        }
        if where:
            params["FilterExpression"] = " AND ".join(f"#f{n} = :f{n}" for n in range(len(where)))
            params["ExpressionAttributeNames"] = {f"#f{n}": name for n, name in enumerate(where)}
            params["ExpressionAttributeValues"] |= {f":f{n}": v for n, v in enumerate(encode(dict(where)).values())}
        start = _checked_start(pk, sk, partition, sk_prefix, decode_token(next_token))
        found: list[dict[str, Any]] = []
        while True:
            # A filter may skip records: ask again from where DynamoDB stopped until the page is full.
            response = self.client.query(
                **params, Limit=limit - len(found), **({"ExclusiveStartKey": start} if start else {})
            )
            found.extend(decode(i) for i in response.get("Items", []))
            start = response.get("LastEvaluatedKey")
            if not start or len(found) >= limit:
                return found, encode_token(start)

    # ------------------------------------------------------------ payroll email settings
    def payroll_email_of(self, customer: Customer) -> PayrollEmail:
        """The customer's settings (under its current key); before the first save, those its legacy key had."""
        own = (f"CUSTOMER#{customer.customer_id}", PAYROLL_EMAIL_SK)
        # One BatchGetItem: the settings, and what finds legacy ones (read on every send, so kept to one call).
        current = customer.timerack_client_key
        under_key = [(f"CLIENTKEY#{current}", PAYROLL_EMAIL_SK)] if current else []
        found = self.batch_get([own, *self._legacy_keys(customer), *under_key])
        item = found.get(own)
        if item is None:
            legacy_key = self._legacy_key_from(customer, found)
            legacy = (f"CLIENTKEY#{legacy_key}", PAYROLL_EMAIL_SK)
            item = found.get(legacy) or (self.get(*legacy) if legacy_key and legacy not in found else None)
        settings = (
            PayrollEmailFields(**strip_keys(item, extra=("client_key", "customer_id")))
            if item
            else PayrollEmailFields()
        )
        return PayrollEmail(client_key=customer.timerack_client_key or "", **settings.model_dump())

    def put_payroll_email_of(self, customer: Customer, settings: PayrollEmailFields) -> PayrollEmail:
        """Store the customer's settings: they stay its own whatever key it has later."""
        values = {"recipients": list(settings.recipients), "receive_error_file": settings.receive_error_file}
        item = {"pk": f"CUSTOMER#{customer.customer_id}", "sk": PAYROLL_EMAIL_SK, "customer_id": customer.customer_id}
        self.put({**item, **values})
        return PayrollEmail(client_key=customer.timerack_client_key or "", **values)

    def put_payroll_email(self, settings: PayrollEmail) -> None:
        """The settings of the customer holding `settings.client_key` (seed data and tests)."""
        customer = self.get_customer_by_client_key(settings.client_key)
        if customer is None:
            raise NotFoundError(f"no Primary Customer has the Timerack Client Key {settings.client_key}")
        self.put_payroll_email_of(customer, settings)

    def get_payroll_email(self, client_key: str) -> PayrollEmail:
        customer = self.get_customer_by_client_key(client_key)
        return self.payroll_email_of(customer) if customer else PayrollEmail(client_key=client_key)

    # ------------------------------------------------------------ records stored under a key string
    # Before customers owned them, batches and settings were stored under the key string. They belong to
    # the customer that held the key then: the holder, until it lets the key go, when a marker
    # (CLIENTKEY#{key}/LEGACY -> owner) and the customer's own note (CUSTOMER#{id}/LEGACYKEY) keep them its.

    def _keep_legacy_owner(self, client_key: str, customer_id: int) -> None:
        owner = str(customer_id)
        if not self._put_new({"pk": f"CLIENTKEY#{client_key}", "sk": LEGACY_SK, "owner": owner}):
            marker = self.get(f"CLIENTKEY#{client_key}", LEGACY_SK, consistent=True)
            if marker is None or marker["owner"] != owner:
                return  # the key's legacy records are another customer's (it held the key first)
        # Only the first key a customer lets go can hold its legacy records: later ones were held after the fix.
        self._put_new({"pk": f"CUSTOMER#{customer_id}", "sk": LEGACY_KEY_SK, "client_key": client_key})

    def legacy_client_key(self, customer: Customer) -> str | None:
        """The key string whose legacy batches and settings are this customer's, if any."""
        return self._legacy_key_from(customer, self.batch_get(self._legacy_keys(customer)))

    @staticmethod
    def _legacy_keys(customer: Customer) -> list[tuple[str, str]]:
        """The items that decide the customer's legacy key: its note, and the marker of its current key."""
        keys = [(f"CUSTOMER#{customer.customer_id}", LEGACY_KEY_SK)]
        if customer.timerack_client_key:
            keys.append((f"CLIENTKEY#{customer.timerack_client_key}", LEGACY_SK))
        return keys

    @staticmethod
    def _legacy_key_from(customer: Customer, found: dict[tuple[str, str], dict[str, Any]]) -> str | None:
        kept = found.get((f"CUSTOMER#{customer.customer_id}", LEGACY_KEY_SK))
        if kept:
            return str(kept["client_key"])
        key_now = customer.timerack_client_key
        if not key_now:
            return None
        # Holding the key with no marker: the key's legacy records are this customer's (it held it at the fix).
        marker = found.get((f"CLIENTKEY#{key_now}", LEGACY_SK))
        return key_now if marker is None or marker["owner"] == str(customer.customer_id) else None

    def legacy_owner(self, client_key: str) -> Customer | None:
        """The customer a record stored under the key string (no customer id on it) belongs to."""
        marker = self.get(f"CLIENTKEY#{client_key}", LEGACY_SK)
        if marker:
            return self.get_customer(int(marker["owner"]))
        holder = self.get_customer_by_client_key(client_key)
        return holder if holder and self.legacy_client_key(holder) == client_key else None

    def _put_new(self, item: dict[str, Any]) -> bool:
        """Put an item that must not exist yet; False when it does."""
        try:
            self.put(item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

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


def _checked_start(
    pk: str, sk: str, partition: str, sk_prefix: str, start: dict[str, Any] | None
) -> dict[str, Any] | None:
    """A nextToken's key, if it is one this list gave out: the table's (and index's) keys, as text, in
    this partition and range. Anything else would reach DynamoDB as a malformed key (a 5xx) or start elsewhere."""
    if start is None:
        return None
    well_formed = set(start) == {"pk", "sk", pk, sk} and all(
        isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str) for value in start.values()
    )
    if not well_formed or start[pk]["S"] != partition or not start[sk]["S"].startswith(sk_prefix):
        raise UnprocessableError("nextToken is not a token this API gave out")
    return start
