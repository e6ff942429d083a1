"""The least-privilege check itself (tests/least_privilege.py): it sees a missing grant that moto never would."""

from __future__ import annotations

from typing import Any

from tests.least_privilege import Call, actions_of, function_of_stack, missing_grants, role_grants, unused_grants

TABLE = {"Fn::GetAtt": ["DatabaseMainTableCC4AF5A1", "Arn"]}


def _template(actions: list[str]) -> dict[str, Any]:
    return {
        "Resources": {
            "DatabaseMainTableCC4AF5A1": {"Type": "AWS::DynamoDB::GlobalTable"},
            "ExportWorkerRole1": {
                "Type": "AWS::IAM::Role",
                "Properties": {"Description": "Timerack Bridge export_worker function (acme)"},
            },
            "ExportWorkerPolicy1": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "Roles": [{"Ref": "ExportWorkerRole1"}],
                    "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": actions, "Resource": [TABLE]}]},
                },
            },
        }
    }


def test_a_transaction_needs_the_grant_of_each_action_inside_it() -> None:
    params = {
        "TransactItems": [
            {"ConditionCheck": {"TableName": "main", "Key": {}}},
            {"Put": {"TableName": "main", "Item": {}}},
        ]
    }
    assert actions_of("dynamodb", "TransactWriteItems", params) == [
        ("dynamodb:ConditionCheckItem", "table"),
        ("dynamodb:PutItem", "table"),
    ]
    assert actions_of("sqs", "SendMessageBatch", {"QueueUrl": "q"}) == [("sqs:SendMessage", "queue")]
    assert actions_of("dynamodb", "Query", {"TableName": "main", "IndexName": "gsi1"}) == [
        ("dynamodb:Query", "table-index")
    ]


def test_a_missing_grant_is_found_and_an_unused_one_reported() -> None:
    grants = role_grants(_template(["dynamodb:PutItem", "dynamodb:DeleteItem"]))
    calls = [
        Call("export_worker", "dynamodb:PutItem", "table"),
        Call("export_worker", "dynamodb:ConditionCheckItem", "table"),
    ]
    assert missing_grants(calls, grants) == [Call("export_worker", "dynamodb:ConditionCheckItem", "table")]
    assert [(f, g.action) for f, g in unused_grants(calls, grants)] == [("export_worker", "dynamodb:DeleteItem")]


def test_a_grant_on_the_table_does_not_cover_its_indexes() -> None:
    grants = role_grants(_template(["dynamodb:Query"]))
    assert missing_grants([Call("export_worker", "dynamodb:Query", "table-index")], grants)
    assert not missing_grants([Call("export_worker", "dynamodb:Query", "table")], grants)


def test_a_call_is_the_function_whose_code_is_outermost_on_the_stack() -> None:
    namespace: dict[str, Any] = {"function_of_stack": function_of_stack}
    inner = compile("def inner():\n    return function_of_stack()\n", "/x/timerack_bridge/adapters/a.py", "exec")
    outer = compile("def outer():\n    return inner()\n", "/x/functions/mailer/handler.py", "exec")
    exec(inner, namespace)  # noqa: S102 - code compiled under a product path, to stand for it
    exec(outer, namespace)  # noqa: S102
    assert namespace["outer"]() == "mailer"
    assert namespace["inner"]() is None  # a test calling an adapter directly is no function's code
