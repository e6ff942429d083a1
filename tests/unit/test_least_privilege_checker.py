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


INTAKE_BUCKET = {"Fn::GetAtt": ["IntakeBucketD0F0E3A1", "Arn"]}


def _intake_template(prefix: str, actions: list[str]) -> dict[str, Any]:
    template = _template([])
    template["Resources"]["IntakeBucketD0F0E3A1"] = {"Type": "AWS::S3::Bucket"}
    template["Resources"]["ExportWorkerPolicy1"]["Properties"]["PolicyDocument"]["Statement"] = [
        {"Effect": "Allow", "Action": actions, "Resource": {"Fn::Join": ["", [INTAKE_BUCKET, f"/{prefix}*"]]}}
    ]
    return template


def test_an_intake_bucket_object_call_needs_the_grant_on_its_prefix() -> None:
    # HeadObject is authorised by s3:GetObject; the key's prefix is the resource
    assert actions_of("s3", "HeadObject", {"Bucket": "b", "Key": "results/B1.json.gz"}) == [
        ("s3:GetObject", "intake-bucket/results/")
    ]
    assert actions_of("s3", "PutObject", {"Bucket": "b", "Key": "intake/B1.json.gz"}) == [
        ("s3:PutObject", "intake-bucket/intake/")
    ]
    # Any other key is the export bucket's (a client's file)
    assert actions_of("s3", "PutObject", {"Bucket": "b", "Key": "acme/assignments.json"}) == [
        ("s3:PutObject", "bucket")
    ]
    grants = role_grants(_intake_template("results/", ["s3:GetObject"]))
    assert not missing_grants([Call("export_worker", "s3:GetObject", "intake-bucket/results/")], grants)
    assert missing_grants([Call("export_worker", "s3:GetObject", "intake-bucket/intake/")], grants)
    assert missing_grants([Call("export_worker", "s3:PutObject", "intake-bucket/results/")], grants)
    assert missing_grants([Call("export_worker", "s3:GetObject", "bucket")], grants)


def test_the_upload_put_a_client_makes_with_the_apis_signature_is_not_reported_unused() -> None:
    grants = role_grants(_intake_template("uploads/", ["s3:PutObject"]))
    assert list(unused_grants([], grants)) == []


def test_the_intake_worker_and_the_apis_use_of_the_intake_are_told_apart() -> None:
    namespace: dict[str, Any] = {"function_of_stack": function_of_stack}
    logic = "/x/timerack_bridge/logic/intake_async.py"
    exec(compile("def accept():\n    return function_of_stack()\n", logic, "exec"), namespace)  # noqa: S102
    route = "def route():\n    return accept()\n"
    exec(compile(route, "/x/timerack_bridge/api/routes/timecards.py", "exec"), namespace)  # noqa: S102
    worker = "def worker():\n    return accept()\n"
    exec(compile(worker, "/x/functions/intake_worker/handler.py", "exec"), namespace)  # noqa: S102
    assert namespace["route"]() == "api"
    assert namespace["worker"]() == "intake_worker"
