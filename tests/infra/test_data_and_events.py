"""Tables from the one definition, the mailer's stream mapping and the hourly schedule."""

from __future__ import annotations

import json

import pytest

from timerack_bridge.adapters.dynamodb.tables import IDEMPOTENCY_TABLE, MAIN_TABLE

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _table(synthesized, stack: str, logical_id_prefix: str) -> dict:
    tables = synthesized.resources(stack, "AWS::DynamoDB::GlobalTable")
    (table,) = [t for logical_id, t in tables.items() if logical_id.startswith(f"Database{logical_id_prefix}")]
    return table["Properties"]


def test_tables_are_on_demand_with_pitr_deletion_protection_and_ttl(synthesized):
    for stack in synthesized.templates:
        for definition in (MAIN_TABLE, IDEMPOTENCY_TABLE):
            table = _table(synthesized, stack, definition.logical_id)
            assert table["BillingMode"] == "PAY_PER_REQUEST"
            assert table["TimeToLiveSpecification"] == {
                "AttributeName": definition.ttl_attribute,
                "Enabled": True,
            }
            (replica,) = table["Replicas"]
            assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
            assert replica["DeletionProtectionEnabled"] is True


def test_the_main_table_matches_its_definition(synthesized):
    for stack in synthesized.templates:
        table = _table(synthesized, stack, MAIN_TABLE.logical_id)
        assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
        assert table["KeySchema"] == [
            {"AttributeName": MAIN_TABLE.partition_key, "KeyType": "HASH"},
            {"AttributeName": MAIN_TABLE.sort_key, "KeyType": "RANGE"},
        ]
        indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
        assert set(indexes) == {index.name for index in MAIN_TABLE.indexes}
        for definition in MAIN_TABLE.indexes:
            assert indexes[definition.name]["KeySchema"] == [
                {"AttributeName": definition.partition_key, "KeyType": "HASH"},
                {"AttributeName": definition.sort_key, "KeyType": "RANGE"},
            ]
            assert indexes[definition.name]["Projection"] == {"ProjectionType": "ALL"}
        assert all(attribute["AttributeType"] == "S" for attribute in table["AttributeDefinitions"])


def test_the_mailer_only_wakes_for_completed_batches_with_errors(synthesized):
    for stack in synthesized.templates:
        mappings = synthesized.resources(stack, "AWS::Lambda::EventSourceMapping").values()
        (properties,) = [m["Properties"] for m in mappings if "StartingPosition" in m["Properties"]]
        completed_with_errors = {"sk": {"S": ["BATCH"]}, "status": {"S": ["completed"]}, "hasErrors": {"BOOL": [True]}}
        # The error file asked for when the batch was sent, or a batch stored before that setting was kept on it
        sent_on, legacy = ({"BOOL": [True]}, {"BOOL": [{"exists": False}]})
        assert [json.loads(c["Pattern"]) for c in properties["FilterCriteria"]["Filters"]] == [
            {
                "eventName": ["INSERT", "MODIFY"],
                "dynamodb": {"NewImage": {**completed_with_errors, "receiveErrorFile": setting}},
            }
            for setting in (sent_on, legacy)
        ]
        assert properties["EventSourceArn"]["Fn::GetAtt"][1] == "StreamArn"
        assert properties["BisectBatchOnFunctionError"] is True
        assert 0 <= properties["MaximumRetryAttempts"] <= 10
        assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert "Fn::GetAtt" in properties["DestinationConfig"]["OnFailure"]["Destination"]


def test_the_export_runs_hourly_with_retries_and_a_dead_letter_queue(synthesized):
    for stack in synthesized.templates:
        (rule,) = [
            r for r in synthesized.resources(stack, "AWS::Events::Rule").values() if "Export" in r["Properties"]["Name"]
        ]
        assert rule["Properties"]["ScheduleExpression"] == "rate(1 hour)"
        (target,) = rule["Properties"]["Targets"]
        assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
        queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
        queue = synthesized.templates[stack]["Resources"][queue_id]
        assert queue["Type"] == "AWS::SQS::Queue"
        (key_id,) = synthesized.resources(stack, "AWS::KMS::Key")
        assert queue["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_dead_letter_queues_refuse_plain_http(synthesized):
    for stack, _, policy in synthesized.all_resources("AWS::SQS::QueuePolicy"):
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ), stack


def test_alarms_cover_errors_throttles_and_dead_letter_depth(synthesized):
    for stack in synthesized.templates:
        alarms = synthesized.alarms(stack).values()
        metrics = {(watched.namespace, watched.name) for _, watched in alarms}
        assert {
            ("AWS/Lambda", "Errors"),
            ("AWS/Lambda", "Throttles"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        } <= metrics
        assert len([w for _, w in alarms if w.name == "Errors"]) == 5
        (topic_id,) = synthesized.resources(stack, "AWS::SNS::Topic")
        assert all(alarm["AlarmActions"] == [{"Ref": topic_id}] for alarm, _ in alarms)
        # An SSL-only topic policy replaces the default one, so CloudWatch must be allowed explicitly.
        (policy,) = synthesized.resources(stack, "AWS::SNS::TopicPolicy").values()
        assert any(
            s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )
