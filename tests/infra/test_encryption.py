"""Encrypted everywhere with the tenant's own key, and each AWS service that uses the key allowed to.

moto neither encrypts nor checks KMS, so what SQS, Secrets Manager, S3, CloudWatch Logs, EventBridge and
Lambda need of the key is reasoned out here, on the synthesized key policy and roles:
- a producer to an encrypted queue (the API, the dispatcher, Lambda's on-failure delivery with the function's
  role) needs kms:GenerateDataKey and kms:Decrypt; a consumer (the worker's event source) kms:Decrypt;
- reading the secret, kms:Decrypt; writing an S3 object under SSE-KMS, kms:GenerateDataKey;
- Lambda's encrypted environment, kms:Decrypt for the function's role;
- CloudWatch Logs (log groups), CloudWatch (alarms to the encrypted topic) and EventBridge (the schedule's
  dead-letter queue) are service principals in the key policy.
"""

from __future__ import annotations

from typing import Any

import pytest

from timerack_bridge.adapters.destinations import TOKEN_PLACEHOLDER

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _key(synthesized, stack: str) -> tuple[str, dict[str, Any]]:
    ((key_id, key),) = synthesized.resources(stack, "AWS::KMS::Key").items()
    return key_id, key


def _key_arn(synthesized, stack: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [_key(synthesized, stack)[0], "Arn"]}


def _key_statements(synthesized, stack: str) -> list[dict[str, Any]]:
    return _key(synthesized, stack)[1]["Properties"]["KeyPolicy"]["Statement"]


def _service_statement(synthesized, stack: str, service: str) -> dict[str, Any]:
    (statement,) = [s for s in _key_statements(synthesized, stack) if s["Principal"] == {"Service": service}]
    return statement


def _role_statements(synthesized, stack: str, folder: str) -> list[dict[str, Any]]:
    role_id = synthesized.functions(stack)[folder]["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synthesized.resources(stack, "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _key_actions(synthesized, stack: str, folder: str) -> set[str]:
    """The KMS actions a function's role has, all of them on the tenant's key (and on nothing else)."""
    actions = set()
    for statement in _role_statements(synthesized, stack, folder):
        kms = {a for a in _as_list(statement["Action"]) if a.startswith("kms:")}
        if kms:
            assert _as_list(statement["Resource"]) == [_key_arn(synthesized, stack)], (stack, folder)
            actions |= kms
    return actions


def test_each_tenant_has_one_customer_managed_key_with_rotation_that_outlives_the_stack(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        _, key = _key(synthesized, stack)
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["DeletionPolicy"] == "Retain"
        (alias,) = synthesized.resources(stack, "AWS::KMS::Alias").values()
        assert alias["Properties"]["AliasName"] == f"alias/TimerackBridge-{tenant.name}"


def test_queues_log_groups_secret_environments_bucket_and_topic_use_the_tenants_key(synthesized):
    for stack in synthesized.templates:
        key = _key_arn(synthesized, stack)
        queues = synthesized.resources(stack, "AWS::SQS::Queue").values()
        # two lanes, their DLQs, the dispatcher's DLQ, the mailer's failure queue; the intake queue, its DLQ and the
        # sweep's DLQ
        assert len(queues) == 9
        assert all(q["Properties"]["KmsMasterKeyId"] == key for q in queues)
        log_groups = synthesized.resources(stack, "AWS::Logs::LogGroup").values()
        assert len(log_groups) == 7  # five functions, API access and execution logs
        assert all(g["Properties"]["KmsKeyId"] == key for g in log_groups)
        assert all(
            s["Properties"]["KmsKeyId"] == key
            for s in synthesized.resources(stack, "AWS::SecretsManager::Secret").values()
        )
        assert all(
            f["Properties"]["KmsKeyArn"] == key for f in synthesized.resources(stack, "AWS::Lambda::Function").values()
        )
        (topic,) = synthesized.resources(stack, "AWS::SNS::Topic").values()
        assert topic["Properties"]["KmsMasterKeyId"] == key


def test_the_export_bucket_is_encrypted_with_the_key_and_expires_old_versions(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        buckets = synthesized.resources(stack, "AWS::S3::Bucket")
        if tenant.export_destination != "s3":
            assert not [i for i in buckets if i.startswith("Export")]
            continue
        (bucket,) = [b for i, b in buckets.items() if "ExportBucket" in i]
        (sse,) = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert sse["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": _key_arn(synthesized, stack),
        }
        assert sse["BucketKeyEnabled"] is True
        assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
        (rule,) = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
        # Every hourly export overwrites the client's object: each old version is another copy of its PINs
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] <= 7
        assert rule["Status"] == "Enabled"


def test_cloudwatch_logs_may_use_the_key_for_this_accounts_log_groups_only(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        statement = _service_statement(synthesized, stack, f"logs.{tenant.region}.amazonaws.com")
        assert statement["Condition"] == {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{tenant.region}:{tenant.account}:log-group:*"
            }
        }


def test_eventbridge_may_put_only_the_schedules_undelivered_events_into_their_encrypted_queues(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        names = sorted(r["Properties"]["Name"] for r in synthesized.resources(stack, "AWS::Events::Rule").values())
        assert names == [f"TimerackBridge-{tenant.name}-{rule}" for rule in ("ExportSchedule", "IntakeSweep")]
        statement = _service_statement(synthesized, stack, "events.amazonaws.com")
        assert set(_as_list(statement["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey"}
        assert statement["Condition"] == {
            "ArnEquals": {
                "aws:SourceArn": [f"arn:aws:events:{tenant.region}:{tenant.account}:rule/{name}" for name in names]
            }
        }


def test_cloudwatch_alarms_may_publish_to_the_encrypted_topic(synthesized):
    for stack in synthesized.templates:
        statement = _service_statement(synthesized, stack, "cloudwatch.amazonaws.com")
        assert "kms:Decrypt" in _as_list(statement["Action"])


def test_each_role_may_use_the_key_for_what_it_reads_and_writes_and_no_more(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        both = {"kms:Decrypt", "kms:GenerateDataKey"}
        # The API and the dispatcher send to the lanes; the dispatcher's and the mailer's failures go to their
        # encrypted failure queues with the function's role; all decrypt their environment
        assert _key_actions(synthesized, stack, "api") == both
        assert _key_actions(synthesized, stack, "export") == both
        assert _key_actions(synthesized, stack, "mailer") == both
        # The worker reads the lanes and the secret; an S3 tenant's worker also writes encrypted objects
        worker = both  # and queues a change saved while it exported once more (the priority lane)
        assert _key_actions(synthesized, stack, "export_worker") == worker
        # The intake worker reads bodies and writes results (S3 under the key) and queues a swept batch
        assert _key_actions(synthesized, stack, "intake_worker") == both


def test_the_timerack_secret_starts_as_the_placeholder_the_export_refuses(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        secrets = list(synthesized.resources(stack, "AWS::SecretsManager::Secret").values())
        if tenant.export_destination != "https":
            assert secrets == []  # an S3 tenant has no token to keep
            continue
        (secret,) = secrets
        assert secret["Properties"]["SecretString"] == TOKEN_PLACEHOLDER
        assert "GenerateSecretString" not in secret["Properties"]
        assert secret["DeletionPolicy"] == "Retain"


def test_timerack_reads_the_export_bucket_through_the_stacks_own_policies(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        if tenant.export_destination != "s3":
            continue
        principal = (
            {"AWS": f"arn:aws:iam::{tenant.timerack_principal}:root"}
            if tenant.timerack_principal and tenant.timerack_principal.isdigit()
            else {"AWS": tenant.timerack_principal}
        )
        (bucket_id,) = [i for i in synthesized.resources(stack, "AWS::S3::Bucket") if "ExportBucket" in i]
        (policy,) = [
            p
            for p in synthesized.resources(stack, "AWS::S3::BucketPolicy").values()
            if p["Properties"]["Bucket"] == {"Ref": bucket_id}
        ]
        granted = {
            action: statement["Resource"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if statement["Effect"] == "Allow" and statement["Principal"] == principal
            for action in _as_list(statement["Action"])
        }
        key_grants = [s for s in _key_statements(synthesized, stack) if s["Principal"] == principal]
        if not tenant.timerack_principal:
            assert granted == {} and key_grants == []
            continue
        arn = {"Fn::GetAtt": [bucket_id, "Arn"]}
        assert granted == {"s3:ListBucket": arn, "s3:GetObject": {"Fn::Join": ["", [arn, "/*"]]}}
        (key_grant,) = key_grants
        assert key_grant["Action"] == "kms:Decrypt"
        assert key_grant["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{tenant.region}.amazonaws.com"}}


def test_an_account_id_as_timerack_principal_is_granted_as_that_account(side_by_side):
    # tests/infra/conftest.py SIDE_BY_SIDE: "south" names Timerack's account 555555555555
    template = side_by_side["TimerackBridge-south"]
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::S3::BucketPolicy"]
    principals = [
        s["Principal"]
        for p in policies
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow" and "Sid" in s
    ]
    assert principals == [{"AWS": "arn:aws:iam::555555555555:root"}] * 2
    (key,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    assert {"AWS": "arn:aws:iam::555555555555:root"} in [
        s["Principal"] for s in key["Properties"]["KeyPolicy"]["Statement"]
    ]
