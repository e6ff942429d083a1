"""CDK app entry (cdk.json runs it): one stack `TimerackBridge-<tenant>` per tenant in infra/tenants.json."""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from infra.stack import TenantConfigError, build_app, load_tenants  # noqa: E402
from infra.stack.constants import DEPENDENCIES_LAYER_DIR  # noqa: E402


def main() -> None:
    if not (DEPENDENCIES_LAYER_DIR / "python").is_dir():
        sys.exit(
            f"{DEPENDENCIES_LAYER_DIR / 'python'} is missing: build the dependency layer first "
            "(`make layers` or `bash infra/build_layers.sh`)."
        )
    try:
        tenants = load_tenants()
    except TenantConfigError as exc:
        sys.exit(str(exc))
    build_app(tenants).synth()


if __name__ == "__main__":
    main()
