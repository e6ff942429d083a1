"""The asynchronous intake (infra/stack/intake.py): its bucket, queue, worker, sweep schedule, grants and alarms."""

from __future__ import annotations

from typing import Any

import pytest

from infra.stack import constants

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

DAY = 86400


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _key_arn(synthesized, stack: str) -> dict[str, Any]:
    (key_id,) = synthesized.resources(stack, "AWS::KMS::Key")
    return {"Fn::GetAtt": [key_id, "Arn"]}


def _bucket_id(synthesized, stack: str) -> str:
    (bucket_id,) = [i for i in synthesized.resources(stack, "AWS::S3::Bucket") if i.startswith("IntakeBucket")]
    return bucket_id


def _objects(synthesized, stack: str, prefix: str) -> dict[str, Any]:
    return {"Fn::Join": ["", [{"Fn::GetAtt": [_bucket_id(synthesized, stack), "Arn"]}, f"/{prefix}*"]]}


def _queue_id(synthesized, stack: str) -> str:
    (queue_id,) = [
        i
        for i, q in synthesized.resources(stack, "AWS::SQS::Queue").items()
        if i.startswith("IntakeQueue") and "RedrivePolicy" in q["Properties"]
    ]
    return queue_id


def _statements(synthesized, stack: str, folder: str) -> list[dict[str, Any]]:
    role_id = synthesized.functions(stack)[folder]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _allowed_on(statements: list[dict[str, Any]], resource: Any) -> set[str]:
    return {
        action
        for statement in statements
        if resource in _as_list(statement["Resource"])
        for action in _as_list(statement["Action"])
    }


def _s3_grants(synthesized, stack: str, folder: str) -> dict[str, set[str]]:
    """prefix -> the s3 actions the function's role has on the intake bucket's objects under it."""
    statements = _statements(synthesized, stack, folder)
    return {
        prefix: actions
        for prefix in ("intake/", "results/", "uploads/", "")
        if (
            actions := {a for a in _allowed_on(statements, _objects(synthesized, stack, prefix)) if a.startswith("s3:")}
        )
    }


def test_the_intake_bucket_is_private_encrypted_with_the_tenants_key_ssl_only_logged_and_kept(synthesized):
    for stack in synthesized.templates:
        bucket_id = _bucket_id(synthesized, stack)
        bucket = synthesized.templates[stack]["Resources"][bucket_id]
        properties = bucket["Properties"]
        (sse,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": _key_arn(synthesized, stack),
        }
        assert sse["BucketKeyEnabled"] is True
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert properties["LoggingConfiguration"]["DestinationBucketName"]["Ref"] in synthesized.resources(
            stack, "AWS::S3::Bucket"
        )
        assert bucket["DeletionPolicy"] == "Retain"
        (policy,) = [
            p
            for p in synthesized.resources(stack, "AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": bucket_id}
        ]
        assert any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_accepted_bodies_and_uploads_expire_and_results_are_kept(synthesized):
    for stack in synthesized.templates:
        bucket = synthesized.resources(stack, "AWS::S3::Bucket")[_bucket_id(synthesized, stack)]
        rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        expiry = {r.get("Prefix"): r.get("ExpirationInDays") for r in rules if r["Status"] == "Enabled"}
        assert expiry["intake/"] == 7
        assert expiry["uploads/"] == 1
        # Payroll History keeps a batch for good: so are the results it points to
        assert "results/" not in expiry
        assert not any(r.get("ExpirationInDays") and not r.get("Prefix") for r in rules)


def test_the_intake_queue_is_encrypted_and_redrives_to_its_dead_letter_queue_after_three_receives(synthesized):
    for stack in synthesized.templates:
        queue = synthesized.resources(stack, "AWS::SQS::Queue")[_queue_id(synthesized, stack)]["Properties"]
        worker = synthesized.functions(stack)["intake_worker"]["Properties"]
        assert queue["KmsMasterKeyId"] == _key_arn(synthesized, stack)
        # A batch is not handed to a second worker while the first may still write it
        assert queue["VisibilityTimeout"] == 6 * worker["Timeout"]
        assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
        dead = synthesized.resources(stack, "AWS::SQS::Queue")[
            queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        ]
        assert dead["Properties"]["MessageRetentionPeriod"] == 14 * DAY
        assert dead["Properties"]["KmsMasterKeyId"] == _key_arn(synthesized, stack)


def test_the_worker_takes_one_batch_at_a_time_at_a_bounded_concurrency_on_a_full_vcpu(synthesized):
    for stack in synthesized.templates:
        worker_id = synthesized.function_id(stack, "intake_worker")
        worker = synthesized.functions(stack)["intake_worker"]["Properties"]
        assert worker["Architectures"] == ["arm64"]
        assert (worker["MemorySize"], worker["Timeout"]) == (1769, 300)
        (mapping,) = [
            m["Properties"]
            for m in synthesized.resources(stack, "AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": worker_id}
        ]
        assert mapping["EventSourceArn"] == {"Fn::GetAtt": [_queue_id(synthesized, stack), "Arn"]}
        assert mapping["BatchSize"] == 1
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": constants.INTAKE_WORKER_CONCURRENCY}


def test_a_schedule_every_15_minutes_runs_the_sweep_with_a_dead_letter_queue(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (rule,) = [
            r["Properties"]
            for r in synthesized.resources(stack, "AWS::Events::Rule").values()
            if r["Properties"]["Name"] == f"TimerackBridge-{tenant.name}-IntakeSweep"
        ]
        assert rule["ScheduleExpression"] == "rate(15 minutes)"
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [synthesized.function_id(stack, "intake_worker"), "Arn"]}
        assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] in synthesized.resources(stack, "AWS::SQS::Queue")


def test_each_function_is_given_the_bucket_and_queue_it_uses(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        env = {n: f["Properties"]["Environment"]["Variables"] for n, f in synthesized.functions(stack).items()}
        bucket = {"Ref": _bucket_id(synthesized, stack)}
        queue = {"Ref": _queue_id(synthesized, stack)}
        assert env["intake_worker"]["INTAKE_BUCKET"] == bucket
        assert env["intake_worker"]["INTAKE_QUEUE_URL"] == queue
        assert env["intake_worker"]["PAY_CODES"] == ",".join(tenant.pay_codes)
        assert env["intake_worker"]["WEEK_ENDING_DAY"] == tenant.week_ending_day
        assert (env["api"]["INTAKE_BUCKET"], env["api"]["INTAKE_QUEUE_URL"]) == (bucket, queue)
        assert env["mailer"]["INTAKE_BUCKET"] == bucket
        for other in ("export", "export_worker"):
            assert "INTAKE_BUCKET" not in env[other], other


def test_each_role_has_exactly_its_objects_of_the_intake_bucket(synthesized):
    for stack in synthesized.templates:
        assert _s3_grants(synthesized, stack, "api") == {
            "intake/": {"s3:PutObject"},
            "results/": {"s3:GetObject", "s3:PutObject"},
            # The API signs the upload URL: the client's PUT acts with the API's rights
            "uploads/": {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"},
        }
        assert _s3_grants(synthesized, stack, "intake_worker") == {
            "intake/": {"s3:GetObject", "s3:DeleteObject"},
            "results/": {"s3:GetObject", "s3:PutObject"},
        }
        assert _s3_grants(synthesized, stack, "mailer") == {"results/": {"s3:GetObject"}}
        for other in ("export", "export_worker"):
            assert _s3_grants(synthesized, stack, other) == {}, other


def test_the_api_and_the_sweep_may_queue_a_batch_and_nothing_else_may(synthesized):
    for stack in synthesized.templates:
        queue_arn = {"Fn::GetAtt": [_queue_id(synthesized, stack), "Arn"]}
        for folder in synthesized.functions(stack):
            sends = "sqs:SendMessage" in _allowed_on(_statements(synthesized, stack, folder), queue_arn)
            assert sends == (folder in ("api", "intake_worker")), folder


def test_the_worker_uses_the_intakes_table_actions_and_queries_the_indexes_only(synthesized):
    for stack in synthesized.templates:
        (table_id,) = [i for i in synthesized.resources(stack, "AWS::DynamoDB::GlobalTable") if "MainTable" in i]
        table = {"Fn::GetAtt": [table_id, "Arn"]}
        statements = _statements(synthesized, stack, "intake_worker")
        assert _allowed_on(statements, table) == set(constants.INTAKE_WORKER_TABLE_ACTIONS)
        gsi2 = {"Fn::Join": ["", [table, "/index/gsi2"]]}
        assert _allowed_on(statements, gsi2) == {"dynamodb:Query"}


def test_the_intake_alarms_on_its_dead_letter_queue_its_oldest_message_and_the_workers_errors(synthesized):
    for stack in synthesized.templates:
        alarms = list(synthesized.alarms(stack).values())
        queue_id = _queue_id(synthesized, stack)
        queue = synthesized.resources(stack, "AWS::SQS::Queue")[queue_id]["Properties"]
        dead_id = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]

        def on_queue(metric: str, queue: str, alarms: list[Any] = alarms) -> list[dict[str, Any]]:
            return [
                a
                for a, w in alarms
                if w.name == metric and w.dimensions.get("QueueName", {}).get("Fn::GetAtt", [None])[0] == queue
            ]

        (depth,) = on_queue("ApproximateNumberOfMessagesVisible", dead_id)
        assert (depth["Threshold"], depth["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        (age,) = on_queue("ApproximateAgeOfOldestMessage", queue_id)
        assert (age["Threshold"], age["ComparisonOperator"]) == (600, "GreaterThanOrEqualToThreshold")
        worker_id = synthesized.function_id(stack, "intake_worker")
        assert [
            a
            for a, w in alarms
            if (w.namespace, w.name) == ("AWS/Lambda", "Errors")
            and w.dimensions.get("FunctionName") == {"Ref": worker_id}
        ]


def test_a_tenants_synchronous_batch_size_reaches_the_api_and_is_otherwise_the_apis_default(side_by_side):
    # tests/infra/cdk_templates.py SIDE_BY_SIDE: "north" sets syncBatchTimecards, "south" does not
    def api_variables(stack: str) -> dict[str, Any]:
        (api,) = [
            r["Properties"]["Environment"]["Variables"]
            for r in side_by_side[stack]["Resources"].values()
            if r["Type"] == "AWS::Lambda::Function"
            and "IDEMPOTENCY_TABLE_NAME" in r["Properties"]["Environment"]["Variables"]
        ]
        return api

    assert api_variables("TimerackBridge-north")[constants.ENV_SYNC_BATCH_TIMECARDS] == "4000"
    assert constants.ENV_SYNC_BATCH_TIMECARDS not in api_variables("TimerackBridge-south")
