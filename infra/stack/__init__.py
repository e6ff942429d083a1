"""The per-tenant CDK stack of Timerack Bridge, one construct per concern."""

from __future__ import annotations

import sys

from infra.stack.constants import SHARED_LAYER_DIR

# The table definition lives in the shared layer (mounted at /opt/python in Lambda); make it
# importable when the package is not installed (`cdk synth` from a bare checkout).
_SHARED_PYTHON = str(SHARED_LAYER_DIR / "python")
if _SHARED_PYTHON not in sys.path:
    sys.path.append(_SHARED_PYTHON)

from infra.stack.assembly import build_app, cdk_json_context  # noqa: E402
from infra.stack.config import TenantConfig, TenantConfigError, load_tenants  # noqa: E402
from infra.stack.regional import RegionalStack, regional_stack_name  # noqa: E402
from infra.stack.tenant_stack import TimerackBridgeStack, stack_name  # noqa: E402

__all__ = [
    "RegionalStack",
    "TenantConfig",
    "TenantConfigError",
    "TimerackBridgeStack",
    "build_app",
    "cdk_json_context",
    "load_tenants",
    "regional_stack_name",
    "stack_name",
]
