"""The main (single) table and the idempotency table, built from the one definition in adapters/dynamodb/tables.py."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from timerack_bridge.adapters.dynamodb.tables import IDEMPOTENCY_TABLE, MAIN_TABLE, TableDefinition

if TYPE_CHECKING:
    from infra.stack.functions import BridgeFunction


def _string_key(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def table_from_definition(scope: Construct, definition: TableDefinition) -> dynamodb.TableV2:
    """On-demand, point-in-time recovery, deletion protection, retained on stack deletion."""
    return dynamodb.TableV2(
        scope,
        definition.logical_id,
        partition_key=_string_key(definition.partition_key),
        sort_key=_string_key(definition.sort_key) if definition.sort_key else None,
        billing=dynamodb.Billing.on_demand(),
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
        time_to_live_attribute=definition.ttl_attribute,
        dynamo_stream=dynamodb.StreamViewType.NEW_IMAGE if definition.stream else None,
        global_secondary_indexes=[
            dynamodb.GlobalSecondaryIndexPropsV2(
                index_name=index.name,
                partition_key=_string_key(index.partition_key),
                sort_key=_string_key(index.sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
            for index in definition.indexes
        ],
    )


class Database(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.main_table = table_from_definition(self, MAIN_TABLE)
        self.idempotency_table = table_from_definition(self, IDEMPOTENCY_TABLE)

    @property
    def index_arns(self) -> list[str]:
        """Each index ARN of the main table, by name (no wildcard)."""
        return [f"{self.main_table.table_arn}/index/{index.name}" for index in MAIN_TABLE.indexes]

    def grant(self, function: BridgeFunction, table_actions: Sequence[str], index_actions: Sequence[str]) -> None:
        """The item actions a function's code uses on the main table, and the queries it makes of its indexes:
        an index is granted only what is asked of it (an index takes Query and Scan, nothing else)."""
        if table_actions:
            function.allow(table_actions, [self.main_table.table_arn])
        if index_actions:
            function.allow(index_actions, self.index_arns)

    @property
    def stream_arn(self) -> str:
        stream_arn = self.main_table.table_stream_arn
        if stream_arn is None:
            raise RuntimeError("the main table definition must enable its stream")
        return stream_arn
