"""Builds the CDK app: one stack per tenant, cdk-nag on everything."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.stack import constants
from infra.stack.config import TenantConfig
from infra.stack.nag import add_nag_checks
from infra.stack.tenant_stack import TimerackBridgeStack


def cdk_json_context(path: Path = constants.CDK_JSON) -> dict[str, Any]:
    """The feature flags of cdk.json, so an app built in a test behaves like `cdk synth`."""
    context: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["context"]
    return context


def build_app(
    tenants: Iterable[TenantConfig],
    *,
    dependencies_layer_dir: Path = constants.DEPENDENCIES_LAYER_DIR,
    outdir: str | None = None,
    context: dict[str, Any] | None = None,
) -> App:
    """The app with every tenant's stack and the nag packs attached (findings fail `synth()`)."""
    app = App(outdir=outdir, context=context)
    for tenant in tenants:
        TimerackBridgeStack(app, tenant, dependencies_layer_dir=dependencies_layer_dir)
    add_nag_checks(app)
    return app
