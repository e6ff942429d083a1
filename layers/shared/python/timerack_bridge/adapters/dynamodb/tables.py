"""The one definition of the DynamoDB tables, used by the CDK stack and the local runtime alike.

Access patterns of the main (single) table; every request path uses GetItem, BatchGetItem,
Query or a transaction, never Scan.

| entity / need                         | pk                          | sk                              | index |
|---------------------------------------|-----------------------------|---------------------------------|-------|
| hierarchy tree (whole, one Query)     | HIERARCHY                   | NODE#{nodeId}                   |       |
| service rep                           | REP#{repId}                 | REP                             |       |
| service reps (all, by rep id)         | gsi1pk=REPS                 | gsi1sk=REP#{repId}              | gsi1  |
| rep by principal (unique claim)       | PRINCIPAL#{principal}       | CLAIM                           |       |
| security groups (all, one Query)      | SECGROUPS                   | GROUP#{name}                    |       |
| customer                              | CUSTOMER#{id}               | CUSTOMER                        |       |
| customer by client key (unique claim) | CLIENTKEY#{key}             | CLAIM                           |       |
| all clients (export)                  | gsi1pk=CLIENTS              | gsi1sk={clientKey}              | gsi1  |
| child customers of a customer         | gsi2pk=UNDER#{parentId}     | gsi2sk=CUSTOMER#{id:012}        | gsi2  |
| Primary Customers (no parent)         | gsi2pk=UNDER#ROOT           | gsi2sk=CUSTOMER#{id:012}        | gsi2  |
| employee                              | EMPLOYEE#{id}               | EMPLOYEE                        |       |
| employees by hasPinOverride           | gsi1pk=PINOVERRIDE#{bool}   | gsi1sk=EMPLOYEE#{id:012}        | gsi1  |
| assignment                            | ASSIGNMENT#{id}             | ASSIGNMENT                      |       |
| assignments of a customer (export)    | gsi2pk=UNDER#{custId}       | gsi2sk=ASSIGNMENT#{id:012}      | gsi2  |
| assignments of an employee            | gsi1pk=EMPLOYEE-ASSIGNMENTS#{employeeId} | gsi1sk=ASSIGNMENT#{id:012} | gsi1 |
| weeks of a hierarchy node             | WEEKS#{nodeId}              | WEEK#{weekendBill}              |       |
| replacement unit header (version)     | ASSIGNMENT#{id}             | UNIT#{weekendBill}              |       |
| units of a week (send to payroll)     | gsi1pk=WEEKUNITS#{wb}#{shard} | gsi1sk=ASSIGNMENT#{id:012}    | gsi1  |
| units of a week (proofing, in pages)  | gsi1pk=WEEKUNITS#{wb}#{shard} | gsi1sk=ASSIGNMENT#{id:012}    | gsi1  |
| current timecards of a unit           | ASSIGNMENT#{id}             | TC#{weekendBill}#{payCode}      |       |
| a week's timecards (proofing, bulk)   | ASSIGNMENT#{id} (BatchGet)  | TC#{weekendBill}#{payCode}      |       |
| every version of a unit (history)     | ASSIGNMENT#{id}             | VERSION#{weekendBill}#{version} |       |
| Payroll History batch (the outbox)    | BATCH#{batchId}             | BATCH                           |       |
| batches of a customer, newest first   | gsi1pk=BATCHES#{customerId} | gsi1sk={submittedAt}#{batchId}  | gsi1  |
| legacy batches (stored before), read  | gsi1pk=HISTORY#{clientKey}  | gsi1sk={submittedAt}#{batchId}  | gsi1  |
| all batches (admin), newest first     | gsi2pk=ALLBATCHES           | gsi2sk={submittedAt}#{batchId}  | gsi2  |
| payroll email settings of a customer  | CUSTOMER#{id}               | PAYROLLEMAIL                    |       |
| legacy payroll email settings, read   | CLIENTKEY#{key}             | PAYROLLEMAIL                    |       |
| owner of a key's legacy records       | CLIENTKEY#{key}             | LEGACY                          |       |
| key of a customer's legacy records    | CUSTOMER#{id}               | LEGACYKEY                       |       |
| one email per batch (marker)          | BATCH#{batchId}             | MAILED                          |       |
| export lease of one client (TTL)      | EXPORTLOCK                  | CUSTOMER#{customerId}           |       |
| pending change-driven export (TTL)    | PENDINGEXPORT               | CUSTOMER#{customerId}           |       |
| assignments of an employee            | gsi1pk=EMPLOYEE-ASSIGNMENTS#{id} | gsi1sk=ASSIGNMENT#{id:012} | gsi1  |
| export run (TTL 90 days)              | EXPORTRUN#{runId}           | RUN                             |       |
| export runs, newest first             | gsi2pk=EXPORTRUNS           | gsi2sk={startedAt}#{runId}      | gsi2  |
| a run's client outcomes (TTL, pages)  | EXPORTRUN#{runId}           | CLIENT#{customerId:012}         |       |

Reading the admin data back (`GET /v1/...`) pages these partitions with `limit`/`nextToken`: security
groups and a node's weeks on the table, the rest on the rows above. An assignment list's `status` (and,
on an employee's list, `customerId`) is a FilterExpression on that one customer's or employee's
partition. Reps, Primary Customers and assignments stored before their list rows existed are read by
id as before, and join the lists on their next PUT (an unchanged re-PUT is the backfill).

An export run's outcomes are items of their own (BatchWriteItem, 25 a call), so a run of any number of
clients stays far below the 400 KB item limit; the run item keeps its counts per hierarchy node, so a
rep's counts are summed over the nodes they see without reading the outcomes.

Batch listings take a submitted-at range as a key condition on `{submittedAt}#{batchId}` (UTC ISO).

Payroll History, payroll email settings and the export lease belong to the Primary Customer, not to
its Timerack Client Key (a key can change, or pass to another customer). Records stored before that
(under the key string) are only read, for the customer they belong to: the one that held the key
then, kept by the LEGACY / LEGACYKEY pair written when it lets the key go (adapters/dynamodb/admin.py).

The stream carries new images; the mailer's filters keep completed batches with errors whose error
file was asked for when they were sent (`receiveErrorFile` on the batch), or that predate that attribute.
Idempotency records (Powertools) live in their own small table with a TTL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TTL_ATTRIBUTE = "expiresAt"
WEEK_UNIT_SHARDS = 10


@dataclass(frozen=True)
class IndexDefinition:
    name: str
    partition_key: str
    sort_key: str


@dataclass(frozen=True)
class TableDefinition:
    """A table as both CDK and the local runtime need it."""

    logical_id: str
    partition_key: str
    sort_key: str | None = None
    indexes: tuple[IndexDefinition, ...] = field(default_factory=tuple)
    ttl_attribute: str | None = None
    stream: bool = False

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Arguments for boto3 `create_table` (on-demand), as the local runtime and tests use."""
        attributes = {self.partition_key}
        key_schema = [{"AttributeName": self.partition_key, "KeyType": "HASH"}]
        if self.sort_key:
            attributes.add(self.sort_key)
            key_schema.append({"AttributeName": self.sort_key, "KeyType": "RANGE"})
        gsis = []
        for index in self.indexes:
            attributes.update({index.partition_key, index.sort_key})
            gsis.append(
                {
                    "IndexName": index.name,
                    "KeySchema": [
                        {"AttributeName": index.partition_key, "KeyType": "HASH"},
                        {"AttributeName": index.sort_key, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
            "KeySchema": key_schema,
            "BillingMode": "PAY_PER_REQUEST",
        }
        if gsis:
            kwargs["GlobalSecondaryIndexes"] = gsis
        if self.stream:
            kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
        return kwargs


MAIN_TABLE = TableDefinition(
    logical_id="MainTable",
    partition_key="pk",
    sort_key="sk",
    indexes=(
        IndexDefinition("gsi1", "gsi1pk", "gsi1sk"),
        IndexDefinition("gsi2", "gsi2pk", "gsi2sk"),
    ),
    ttl_attribute=TTL_ATTRIBUTE,
    stream=True,
)

IDEMPOTENCY_TABLE = TableDefinition(
    logical_id="IdempotencyTable",
    partition_key="id",
    ttl_attribute="expiration",
)

ALL_TABLES = (MAIN_TABLE, IDEMPOTENCY_TABLE)


def create_tables(dynamodb_client: Any, main_table_name: str, idempotency_table_name: str) -> None:
    """Create both tables (and TTL) from the definitions; used by the local runtime and tests."""
    for definition, name in ((MAIN_TABLE, main_table_name), (IDEMPOTENCY_TABLE, idempotency_table_name)):
        dynamodb_client.create_table(**definition.create_table_kwargs(name))
        if definition.ttl_attribute:
            dynamodb_client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": definition.ttl_attribute},
            )
