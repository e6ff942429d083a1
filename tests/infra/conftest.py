"""Synthesizes the real CDK app (every tenant in infra/tenants.json, cdk-nag attached) once per session."""

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

os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT, REPO_ROOT / "layers" / "shared" / "python"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@dataclass(frozen=True)
class Synthesized:
    """The cloud assembly of one synth: each tenant stack's template, as JSON and as a file."""

    tenants: tuple[Any, ...]
    templates: dict[str, dict[str, Any]]
    template_files: dict[str, Path]
    assertions: dict[str, Any]  # stack name -> aws_cdk.assertions.Template

    def resources(self, stack: str, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.templates[stack]["Resources"].items()
            if resource["Type"] == resource_type
        }

    def all_resources(self, resource_type: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for stack in self.templates:
            for logical_id, resource in self.resources(stack, resource_type).items():
                yield stack, logical_id, resource


def _synthesize(outdir: Path) -> dict[str, str]:
    """Synthesize the app into `outdir`; return stack name -> template file."""
    from infra.stack import build_app, cdk_json_context, load_tenants, stack_name

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
    return {
        stack_name(tenant): assembly.get_stack_by_name(stack_name(tenant)).template_full_path
        for tenant in load_tenants()
    }


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """One synth per test session, even when xdist spreads these tests over several workers: the
    first worker synthesizes under a file lock, the others read its cloud assembly."""
    from aws_cdk.assertions import Template

    from infra.stack import load_tenants

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    outdir = shared / "infra-cdk.out"
    complete = shared / "infra-synth-complete.json"
    with (shared / "infra-synth.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not complete.exists():
            complete.write_text(json.dumps(_synthesize(outdir)), encoding="utf-8")
        files = {name: Path(path) for name, path in json.loads(complete.read_text(encoding="utf-8")).items()}

    templates = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in files.items()}
    return Synthesized(
        tenants=load_tenants(),
        templates=templates,
        template_files=files,
        assertions={name: Template.from_json(template) for name, template in templates.items()},
    )
