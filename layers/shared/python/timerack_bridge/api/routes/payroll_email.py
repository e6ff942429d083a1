"""The client's payroll email settings ("Receive Error File"): its Primary Customer's, whatever key it has."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Path

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models.input import PayrollEmailIn
from timerack_bridge.api.routes.common import services_of, timerack_access
from timerack_bridge.domain.entities import PayrollEmail

router = Router()

ClientKeyPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._\-]+$")]


@router.get("/v1/clients/<client_key>/payroll-email")
def get_payroll_email(client_key: ClientKeyPath) -> PayrollEmail:
    services = services_of(router)
    customer = require_visible_client(timerack_access(router), services.admin, client_key)
    return services.admin.payroll_email_of(customer)


@router.put("/v1/clients/<client_key>/payroll-email")
def put_payroll_email(client_key: ClientKeyPath, body: PayrollEmailIn) -> PayrollEmail:
    services = services_of(router)
    customer = require_visible_client(timerack_access(router), services.admin, client_key)
    return services.admin.put_payroll_email_of(customer, body)
