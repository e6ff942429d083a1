"""The hourly export to Timerack (DESIGN.md §5): what is sent, where, and one client at a time.

run = run_export(admin_store, configured_destination(), client_key=None)

The names below are loaded on first use (PEP 562), so importing one submodule — the API's route
needs only the request and run models — does not pull in HTTP, S3 and DynamoDB code at cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from timerack_bridge.export.destinations import (
        DestinationError,
        ExportDestination,
        ExportSettings,
        HttpsDestination,
        OutboxDestination,
        S3Destination,
        configured_destination,
        destination_from_env,
        export_settings_from_env,
        use_destination,
    )
    from timerack_bridge.export.lock import ExportLock
    from timerack_bridge.export.models import ClientOutcome, ExportPayload, ExportRequest, ExportRun
    from timerack_bridge.export.payload import build_client_export, import_template_csv, in_export_window
    from timerack_bridge.export.runner import export_client, run_export

_SUBMODULE_OF = {
    "DestinationError": "destinations",
    "ExportDestination": "destinations",
    "ExportSettings": "destinations",
    "HttpsDestination": "destinations",
    "OutboxDestination": "destinations",
    "S3Destination": "destinations",
    "configured_destination": "destinations",
    "destination_from_env": "destinations",
    "export_settings_from_env": "destinations",
    "use_destination": "destinations",
    "ExportLock": "lock",
    "ClientOutcome": "models",
    "ExportPayload": "models",
    "ExportRequest": "models",
    "ExportRun": "models",
    "build_client_export": "payload",
    "import_template_csv": "payload",
    "in_export_window": "payload",
    "export_client": "runner",
    "run_export": "runner",
}

__all__ = sorted(_SUBMODULE_OF)


def __getattr__(name: str) -> Any:
    submodule = _SUBMODULE_OF.get(name)
    if submodule is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{submodule}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
