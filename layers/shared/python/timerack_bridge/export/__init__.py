"""The hourly export to Timerack (DESIGN.md §5): what is sent, where, and one client at a time.

run = run_export(admin_store, configured_destination(), client_key=None)
"""

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

__all__ = [
    "ClientOutcome",
    "DestinationError",
    "ExportDestination",
    "ExportLock",
    "ExportPayload",
    "ExportRequest",
    "ExportRun",
    "ExportSettings",
    "HttpsDestination",
    "OutboxDestination",
    "S3Destination",
    "build_client_export",
    "configured_destination",
    "destination_from_env",
    "export_client",
    "export_settings_from_env",
    "import_template_csv",
    "in_export_window",
    "run_export",
    "use_destination",
]
