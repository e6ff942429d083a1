"""POST /v1/exports: "Update From TempWorks" (run the export now).

With a clientKey, that client (404 when unknown or not visible to the rep, alike); without, every client
whose Primary Customer lies at or below the rep's hierarchy node. The run is inline and its
result, per client, is the reply.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.routes.common import services_of, timerack_access
from timerack_bridge.domain.export_models import ExportRequest, ExportRun

router = Router()


@router.post("/v1/exports")
def post_export(body: Annotated[ExportRequest | None, Body()] = None) -> ExportRun:
    # The export's code (HTTP, S3, the lock) loads on the first export, not at every cold start.
    from timerack_bridge.logic.export_run import run_export

    access = timerack_access(router)
    services = services_of(router)
    store = services.admin
    client_key = body.client_key if body else None
    if client_key is not None:
        require_visible_client(access, store, client_key)
        return run_export(store, services.export_destination(), client_key=client_key)
    return run_export(
        store,
        services.export_destination(),
        include=lambda customer: access.sees(customer.hierarchy_node_id),
    )
