"""The three functions: runtime, architecture, configuration, and least-privilege roles."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

# Each function's folder holds handler.py (its composition root); the service name tells them apart.
HANDLER = "handler.lambda_handler"
COMMON_ENV = {"TABLE_NAME", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def _functions(synthesized, stack: str) -> dict[str, dict[str, Any]]:
    """function name (api/export/mailer) -> its properties."""
    functions = [f["Properties"] for f in synthesized.resources(stack, "AWS::Lambda::Function").values()]
    assert {f["Handler"] for f in functions} == {HANDLER}
    return {f["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"].removeprefix("timerack-"): f for f in functions}


def test_each_function_runs_python_3_14_on_arm64_with_tracing(synthesized):
    for stack in synthesized.templates:
        functions = _functions(synthesized, stack)
        assert set(functions) == {"api", "export", "mailer"}
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
            assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "TimerackBridge"
        assert set(env["api"]) >= {"IDEMPOTENCY_TABLE_NAME", "PAY_CODES"}
        assert env["api"]["PAY_CODES"] == ",".join(tenant.pay_codes)
        assert env["api"]["WEEK_ENDING_DAY"] == tenant.week_ending_day
        assert env["export"]["EXPORT_DESTINATION"] == tenant.export_destination
        assert env["export"]["TIMERACK_API_URL"] == tenant.timerack_api_url
        assert "TIMERACK_API_TOKEN_SECRET_ARN" in env["export"]
        assert ("EXPORT_BUCKET" in env["export"]) == (tenant.export_destination == "s3")
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


def test_only_x_ray_and_export_objects_use_a_wildcard_resource(synthesized):
    for stack, logical_id, statement in _statements(synthesized):
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                assert all(a.startswith("xray:") for a in _as_list(statement["Action"])), (stack, logical_id)
            elif isinstance(resource, dict) and "Fn::Join" in resource:
                joined = resource["Fn::Join"][1]
                if joined[-1] == "/*":
                    assert _as_list(statement["Action"]) == ["s3:PutObject"], (stack, logical_id)


def test_each_function_has_its_own_role_without_managed_policies(synthesized):
    for stack in synthesized.templates:
        roles = {f["Role"]["Fn::GetAtt"][0] for f in _functions(synthesized, stack).values()}
        assert len(roles) == 3
        for role_id in roles:
            role = synthesized.templates[stack]["Resources"][role_id]["Properties"]
            assert "ManagedPolicyArns" not in role


def test_the_mailer_may_send_only_as_the_tenant_identity(synthesized):
    for stack in synthesized.templates:
        ses = [s for st, _, s in _statements(synthesized) if st == stack and "ses:SendEmail" in _as_list(s["Action"])]
        assert ses
        (identity_id,) = synthesized.resources(stack, "AWS::SES::EmailIdentity")
        for statement in ses:
            (resource,) = _as_list(statement["Resource"])
            assert {"Ref": identity_id} in resource["Fn::Join"][1]


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
