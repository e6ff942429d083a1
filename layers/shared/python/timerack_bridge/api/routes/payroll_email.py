"""The client's payroll email settings ("Receive Error File"): its Primary Customer's, whatever key it has."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Body, Path

from timerack_bridge.api.auth import require_visible_client
from timerack_bridge.api.models import examples
from timerack_bridge.api.models.input import PayrollEmailIn
from timerack_bridge.api.routes.common import admin_or_timerack_access, services_of
from timerack_bridge.api.swagger import PAYROLL_HISTORY
from timerack_bridge.domain.entities import PayrollEmail

router = Router()

ClientKeyPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._\-]+$")]


@router.get(
    "/v1/clients/<client_key>/payroll-email",
    tags=[PAYROLL_HISTORY],
    summary="See who gets a client's error file",
    description=(
        'The client\'s payroll email settings: the recipients and whether they "Receive Error File" when a '
        "batch ends with errors. TempWorks admins, or a Timerack service rep (a client key it cannot see is 404)."
    ),
)
def get_payroll_email(client_key: ClientKeyPath) -> PayrollEmail:
    services = services_of(router)
    customer = require_visible_client(admin_or_timerack_access(router), services.admin, client_key)
    return services.admin.payroll_email_of(customer)


@router.put(
    "/v1/clients/<client_key>/payroll-email",
    tags=[PAYROLL_HISTORY],
    summary="Set who gets a client's error file",
    description=(
        "Sets the client's payroll email recipients (at most 50) and whether they receive the error file of a "
        "batch with errors. TempWorks admins, or a Timerack service rep (a client key it cannot see is 404); "
        "a bad email address 422."
    ),
)
def put_payroll_email(
    client_key: ClientKeyPath, body: Annotated[PayrollEmailIn, Body(openapi_examples=examples.PAYROLL_EMAIL)]
) -> PayrollEmail:
    services = services_of(router)
    customer = require_visible_client(admin_or_timerack_access(router), services.admin, client_key)
    return services.admin.put_payroll_email_of(customer, body)
