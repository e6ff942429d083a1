"""cdk-nag and cfn-lint: the synthesized stacks are clean, and the checks really run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("infra")]

CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_one_stack_per_tenant_and_one_regional_stack_per_account_and_region(synthesized):
    assert set(synthesized.templates) == {f"TimerackBridge-{t.name}" for t in synthesized.tenants}
    assert set(synthesized.regional_templates) == {
        f"TimerackBridgeRegional-{t.account}-{t.region}" for t in synthesized.tenants
    }


def test_the_stacks_synthesize_with_zero_unacknowledged_nag_findings(synthesized):
    # The session fixture's app.synth() ran AwsSolutions and Serverless; a finding would have raised.
    assert synthesized.templates


def test_a_deliberate_nag_finding_fails_synth(tmp_path):
    from aws_cdk import Stack
    from aws_cdk import aws_sqs as sqs

    from infra.stack import build_app, cdk_json_context

    # Given the app builder every synth uses, and a queue that neither enforces SSL nor has a DLQ
    app = build_app([], outdir=str(tmp_path), context=cdk_json_context())
    sqs.Queue(Stack(app, "Deliberate"), "PlainQueue")

    # When it synthesizes, then both nag packs report and synthesis fails
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    assert "AwsSolutions-SQS4" in str(failure.value)
    assert "Serverless-SQSRedrivePolicy" in str(failure.value)


def test_cfn_lint_is_clean_on_every_template(synthesized):
    files = [
        str(path) for path in [*synthesized.template_files.values(), *synthesized.regional_template_files.values()]
    ]
    result = subprocess.run(
        [str(CFN_LINT), "--format", "parseable", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_outputs_admins_need_are_published(synthesized):
    for tenant in synthesized.tenants:
        outputs = synthesized.templates[f"TimerackBridge-{tenant.name}"]["Outputs"]
        assert {
            "ApiUrl",
            "UserPoolId",
            "TokenUrl",
            "TimerackClientId",
            "AdminClientId",
            "TableName",
            "AlarmTopicArn",
            "DashboardName",
            "KmsKeyArn",
            "ExportQueueDlqArn",
            "ExportPriorityQueueDlqArn",
        } <= set(outputs)
        assert ("ExportBucketName" in outputs) == (tenant.export_destination == "s3")
        assert ("TimerackApiTokenSecretArn" in outputs) == (tenant.export_destination == "https")
