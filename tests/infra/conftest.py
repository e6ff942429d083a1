"""Synthesizes the real CDK app (every tenant in infra/tenants.json, their regional stacks, cdk-nag attached)
once per session."""

from __future__ import annotations

import fcntl
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.cdk_templates import SIDE_BY_SIDE, AlarmMetric, alarm_metric, function_folder, resources_of

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT, REPO_ROOT / "layers" / "shared" / "python"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@dataclass(frozen=True)
class Synthesized:
    """The cloud assembly of one synth: each tenant stack's template, as JSON and as a file, and the regional
    stacks' (one per account and region)."""

    tenants: tuple[Any, ...]
    templates: dict[str, dict[str, Any]]
    template_files: dict[str, Path]
    assertions: dict[str, Any]  # stack name -> aws_cdk.assertions.Template
    regional_templates: dict[str, dict[str, Any]]
    regional_template_files: dict[str, Path]

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return resources_of(self.templates[stack], resource_type)

    def functions(self, stack: str) -> dict[str, dict[str, Any]]:
        """functions/ folder (api, export, export_worker, mailer) -> the function's resource."""
        roles = self.resources(stack, "AWS::IAM::Role")
        return {
            function_folder(roles[f["Properties"]["Role"]["Fn::GetAtt"][0]]): f
            for f in self.resources(stack, "AWS::Lambda::Function").values()
        }

    def function_id(self, stack: str, folder: str) -> str:
        """The logical id of a function (by its functions/ folder)."""
        function = self.functions(stack)[folder]
        (logical_id,) = [i for i, f in self.resources(stack, "AWS::Lambda::Function").items() if f is function]
        return logical_id

    def alarms(self, stack: str) -> dict[str, tuple[dict[str, Any], AlarmMetric]]:
        """alarm name -> (its properties, the metric it watches)."""
        return {
            alarm["Properties"]["AlarmName"]: (alarm["Properties"], alarm_metric(alarm["Properties"]))
            for alarm in self.resources(stack, "AWS::CloudWatch::Alarm").values()
        }

    def all_resources(self, resource_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for stack in self.templates:
            for logical_id, resource in self.resources(stack, resource_type).items():
                yield stack, logical_id, resource


def _synthesize(outdir: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Synthesize the app into `outdir`; return tenant stack name -> template file, and the same for the
    regional stacks."""
    from infra.stack import build_app, cdk_json_context, load_tenants, regional_stack_name, stack_name

    # A stand-in for layers/dependencies (built by infra/build_layers.sh): the stack takes the
    # directory as a parameter, so the tests never download arm64 wheels.
    dependencies = outdir.parent / "dependencies-layer"
    (dependencies / "python").mkdir(parents=True, exist_ok=True)
    (dependencies / "python" / "placeholder.txt").write_text("test stand-in\n", encoding="utf-8")
    # Bytecode as infra/build_layers.sh leaves it with Python 3.14 on the machine, and a stray cache
    # of the build machine's own Python: the stack must ship the first and drop the second.
    cache = dependencies / "python" / "somepkg" / "__pycache__"
    cache.mkdir(parents=True, exist_ok=True)
    (dependencies / "python" / "somepkg" / "mod.py").write_text("VALUE = 1\n", encoding="utf-8")
    (cache / "mod.cpython-314.pyc").write_bytes(b"runtime bytecode")
    (cache / "mod.cpython-311.pyc").write_bytes(b"build machine bytecode")

    app = build_app(load_tenants(), dependencies_layer_dir=dependencies, outdir=str(outdir), context=cdk_json_context())
    # cdk-nag runs here as a validation plugin: any unacknowledged finding raises.
    assembly = app.synth()
    tenants = load_tenants()
    regional = {regional_stack_name(t.account, t.region) for t in tenants}
    return (
        {stack_name(t): assembly.get_stack_by_name(stack_name(t)).template_full_path for t in tenants},
        {name: assembly.get_stack_by_name(name).template_full_path for name in sorted(regional)},
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """One synth per test session, even when xdist spreads these tests over several workers: the
    first worker synthesizes under a file lock, the others read its cloud assembly."""
    from aws_cdk.assertions import Template

    from infra.stack import load_tenants

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    outdir = shared / "infra-cdk.out"
    # The tenant stacks' files (tests/least_privilege_check.py reads them too), then the regional stacks'.
    complete = shared / "infra-synth-complete.json"
    regional = shared / "infra-synth-regional.json"
    with (shared / "infra-synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not complete.exists():
            tenant_files, regional_files = _synthesize(outdir)
            regional.write_text(json.dumps(regional_files), encoding="utf-8")
            complete.write_text(json.dumps(tenant_files), encoding="utf-8")
        files = {name: Path(path) for name, path in json.loads(complete.read_text(encoding="utf-8")).items()}
        regional_files = {name: Path(path) for name, path in json.loads(regional.read_text(encoding="utf-8")).items()}

    templates = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in files.items()}
    return Synthesized(
        tenants=load_tenants(),
        templates=templates,
        template_files=files,
        assertions={name: Template.from_json(template) for name, template in templates.items()},
        regional_templates={
            name: json.loads(path.read_text(encoding="utf-8")) for name, path in regional_files.items()
        },
        regional_template_files=regional_files,
    )


@pytest.fixture(scope="session")
def side_by_side(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The templates (stack name -> template) of an app of the two SIDE_BY_SIDE tenants, from a temporary
    tenants file, synthesized with cdk-nag like the real one."""
    from infra.stack import build_app, cdk_json_context, load_tenants

    base = tmp_path_factory.mktemp("side-by-side")
    tenants_file = base / "tenants.json"
    tenants_file.write_text(json.dumps({"tenants": SIDE_BY_SIDE}), encoding="utf-8")
    dependencies = base / "dependencies"
    (dependencies / "python").mkdir(parents=True)
    (dependencies / "python" / "placeholder.txt").write_text("test stand-in\n", encoding="utf-8")
    app = build_app(
        load_tenants(tenants_file),
        dependencies_layer_dir=dependencies,
        outdir=str(base / "cdk.out"),
        context=cdk_json_context(),
    )
    assembly = app.synth()
    return {stack.stack_name: stack.template for stack in assembly.stacks}
