"""The five functions: runtime, architecture, configuration, logging, and least-privilege roles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

# Each function's folder holds handler.py (its composition root); the service name tells them apart.
HANDLER = "handler.lambda_handler"
COMMON_ENV = {"TABLE_NAME", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def _functions(synthesized, stack: str) -> dict[str, dict[str, Any]]:
    """function name (api/export/export_worker/mailer) -> its properties."""
    functions = {name: f["Properties"] for name, f in synthesized.functions(stack).items()}
    assert {f["Handler"] for f in functions.values()} == {HANDLER}
    return functions


def test_each_function_runs_python_3_14_on_arm64_with_tracing(synthesized):
    for stack in synthesized.templates:
        functions = _functions(synthesized, stack)
        assert set(functions) == {"api", "export", "export_worker", "intake_worker", "mailer"}
        for name, function in functions.items():
            assert function["Runtime"] == "python3.14", name
            assert function["Architectures"] == ["arm64"], name
            assert function["TracingConfig"] == {"Mode": "Active"}, name
            assert len(function["Layers"]) == 2, name
            assert function["MemorySize"] > 128 and function["Timeout"] > 3, name


def test_each_function_gets_the_environment_its_code_reads(synthesized):
    for tenant in synthesized.tenants:
        functions = _functions(synthesized, f"TimerackBridge-{tenant.name}")
        env = {name: f["Environment"]["Variables"] for name, f in functions.items()}
        for name, variables in env.items():
            assert set(variables) >= COMMON_ENV, name
            # Per tenant (and per function): tenants of one account and region never share a metric
            assert variables["POWERTOOLS_METRICS_NAMESPACE"] == f"TimerackBridge/{tenant.name}"
            assert variables["POWERTOOLS_SERVICE_NAME"] == f"timerack-{tenant.name}-{name}"
        assert set(env["api"]) >= {"IDEMPOTENCY_TABLE_NAME", "PAY_CODES"}
        assert env["api"]["PAY_CODES"] == ",".join(tenant.pay_codes)
        assert env["api"]["WEEK_ENDING_DAY"] == tenant.week_ending_day
        # The export's variables, function by function: tests/infra/test_export_queue.py
        assert env["export_worker"]["EXPORT_DESTINATION"] == tenant.export_destination
        assert env["mailer"]["SENDER_EMAIL"] == tenant.sender_email


def _statements(synthesized) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every IAM statement of the app: policies, managed policies and role inline policies."""
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for stack, logical_id, resource in synthesized.all_resources(kind):
            for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
                yield stack, logical_id, statement
    for stack, logical_id, role in synthesized.all_resources("AWS::IAM::Role"):
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield stack, logical_id, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_iam_statement_grants_a_wildcard_action(synthesized):
    statements = list(_statements(synthesized))
    assert statements
    for stack, logical_id, statement in statements:
        assert "NotAction" not in statement, (stack, logical_id)
        for action in _as_list(statement["Action"]):
            assert "*" not in action, (stack, logical_id, action)


def test_only_x_ray_and_bucket_objects_use_a_wildcard_resource(synthesized):
    # The export writes its bucket's objects; the intake's objects are granted by prefix (tests/infra/test_intake.py)
    intake_prefixes = {"/intake/*", "/results/*", "/uploads/*"}
    for stack, logical_id, statement in _statements(synthesized):
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                assert all(a.startswith("xray:") for a in _as_list(statement["Action"])), (stack, logical_id)
            elif isinstance(resource, dict) and "Fn::Join" in resource:
                joined = resource["Fn::Join"][1]
                if joined[-1] == "/*":
                    assert _as_list(statement["Action"]) == ["s3:PutObject"], (stack, logical_id)
                elif joined[-1].endswith("*"):
                    assert joined[-1] in intake_prefixes, (stack, logical_id)
                    assert all(a.startswith("s3:") for a in _as_list(statement["Action"])), (stack, logical_id)


def test_each_function_has_its_own_role_without_managed_policies(synthesized):
    for stack in synthesized.templates:
        roles = {f["Role"]["Fn::GetAtt"][0] for f in _functions(synthesized, stack).values()}
        assert len(roles) == 5
        for role_id in roles:
            role = synthesized.templates[stack]["Resources"][role_id]["Properties"]
            assert "ManagedPolicyArns" not in role


def test_the_mailer_may_send_only_as_the_tenant_identity(synthesized):
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        ses = [s for st, _, s in _statements(synthesized) if st == stack and "ses:SendEmail" in _as_list(s["Action"])]
        assert ses
        # The identity is the regional stack's (infra/stack/regional.py): the tenant stack names its ARN
        assert not synthesized.resources(stack, "AWS::SES::EmailIdentity")
        for statement in ses:
            assert _as_list(statement["Resource"]) == [
                f"arn:aws:ses:{tenant.region}:{tenant.account}:identity/{tenant.sender_email}"
            ]
        regional = synthesized.regional_templates[f"TimerackBridgeRegional-{tenant.account}-{tenant.region}"]
        identities = [
            r["Properties"]["EmailIdentity"]
            for r in regional["Resources"].values()
            if r["Type"] == "AWS::SES::EmailIdentity"
        ]
        assert tenant.sender_email in identities


def test_each_function_logs_json_at_the_tenant_level_into_its_own_encrypted_log_group(synthesized):
    levels = {"DEBUG": "DEBUG", "INFO": "INFO", "WARNING": "WARN", "ERROR": "ERROR"}
    for tenant in synthesized.tenants:
        stack = f"TimerackBridge-{tenant.name}"
        (key_id,) = synthesized.resources(stack, "AWS::KMS::Key")
        log_groups = synthesized.resources(stack, "AWS::Logs::LogGroup")
        seen = set()
        for name, function in _functions(synthesized, stack).items():
            logging = function["LoggingConfig"]
            assert logging["LogFormat"] == "JSON", name
            assert logging["ApplicationLogLevel"] == levels[tenant.log_level], name
            assert function["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"] == tenant.log_level, name
            group = log_groups[logging["LogGroup"]["Ref"]]["Properties"]
            assert group["RetentionInDays"] == tenant.log_retention_days, name
            assert group["KmsKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}, name
            seen.add(logging["LogGroup"]["Ref"])
        assert len(seen) == 5


def _role_statements(synthesized, stack: str, folder: str) -> list[dict[str, Any]]:
    role_id = _functions(synthesized, stack)[folder]["Role"]["Fn::GetAtt"][0]
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


def test_each_role_queries_only_the_indexes_and_uses_only_item_actions_on_the_table(synthesized):
    # An index takes Query (and Scan, which no code uses); every other table action is on the table's items
    for stack in synthesized.templates:
        (table_id,) = [i for i in synthesized.resources(stack, "AWS::DynamoDB::GlobalTable") if "MainTable" in i]
        table = {"Fn::GetAtt": [table_id, "Arn"]}
        indexes = [{"Fn::Join": ["", [table, f"/index/{name}"]]} for name in ("gsi1", "gsi2")]
        for folder in ("api", "export", "export_worker", "intake_worker", "mailer"):
            statements = _role_statements(synthesized, stack, folder)
            for index in indexes:
                assert _allowed_on(statements, index) <= {"dynamodb:Query"}, (stack, folder)
            on_table = _allowed_on(statements, table)
            assert "dynamodb:Scan" not in on_table, (stack, folder)
            # No transaction of the code holds a condition check (tests/least_privilege.py records them)
            assert "dynamodb:ConditionCheckItem" not in on_table, (stack, folder)
        # The worker queries the indexes only (the dispatcher also a run's outcomes, its sweep of lost exports);
        # the mailer reads items by key only
        assert "dynamodb:Query" not in _allowed_on(_role_statements(synthesized, stack, "export_worker"), table)
        mailer = _role_statements(synthesized, stack, "mailer")
        assert all(not _allowed_on(mailer, index) for index in indexes)
        # SES v2 SendEmail is authorised by ses:SendEmail alone
        assert not [s for s in mailer if "ses:SendRawEmail" in _as_list(s["Action"])]


def _layer_asset_files(synthesized, stack: str, description_start: str) -> set[str]:
    """The files of a layer's staged asset in the cloud assembly, relative to the asset's root."""
    from pathlib import Path

    outdir = Path(synthesized.template_files[stack]).parent
    for layer in synthesized.resources(stack, "AWS::Lambda::LayerVersion").values():
        if layer["Properties"]["Description"].startswith(description_start):
            asset = outdir / f"asset.{layer['Properties']['Content']['S3Key'].removesuffix('.zip')}"
            return {str(path.relative_to(asset)) for path in asset.rglob("*") if path.is_file()}
    raise AssertionError(f"no layer described {description_start!r} in {stack}")


def test_the_dependency_layer_ships_bytecode_for_the_runtime_python_only(synthesized):
    # A cold start then loads compiled boto3/pydantic/Powertools instead of compiling them (/opt is read-only)
    from infra.stack import constants
    from infra.stack.functions import RUNTIME

    assert f"python{constants.LAMBDA_PYTHON}" == RUNTIME.name
    for stack in synthesized.templates:
        files = _layer_asset_files(synthesized, stack, "Runtime dependencies")
        assert "python/somepkg/__pycache__/mod.cpython-314.pyc" in files
        assert "python/somepkg/__pycache__/mod.cpython-311.pyc" not in files
        assert "python/somepkg/mod.py" in files
        # The shared layer ships sources only (the developer's own caches are of another Python)
        assert not any(name.endswith(".pyc") for name in _layer_asset_files(synthesized, stack, "timerack_bridge"))


def test_the_layer_build_compiles_for_the_runtime_python():
    from pathlib import Path

    from infra.stack import constants

    script = (Path(__file__).resolve().parents[2] / "infra" / "build_layers.sh").read_text(encoding="utf-8")
    assert f'PYTHON_VERSION="{constants.LAMBDA_PYTHON}"' in script
    assert "compileall" in script and "--invalidation-mode unchecked-hash" in script
