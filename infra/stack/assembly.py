"""Builds the CDK app: one stack per tenant, one regional stack per account and region the tenants use (its
singletons: infra/stack/regional.py), cdk-nag on everything."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aws_cdk import App

from infra.stack import constants
from infra.stack.config import TenantConfig
from infra.stack.nag import add_nag_checks
from infra.stack.regional import RegionalStack
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
    """The app with every tenant's stack, each depending on its account and region's regional stack, and the
    nag packs attached (findings fail `synth()`)."""
    app = App(outdir=outdir, context=context)
    tenants = tuple(tenants)
    places = sorted({(tenant.account, tenant.region) for tenant in tenants})
    regional = {
        (account, region): RegionalStack(
            app,
            account=account,
            region=region,
            tenants=[t for t in tenants if (t.account, t.region) == (account, region)],
        )
        for account, region in places
    }
    for tenant in tenants:
        stack = TimerackBridgeStack(app, tenant, dependencies_layer_dir=dependencies_layer_dir)
        stack.add_stack_dependency(
            regional[(tenant.account, tenant.region)], "API Gateway's logging role and the SES sender identity"
        )
    add_nag_checks(app)
    return app
