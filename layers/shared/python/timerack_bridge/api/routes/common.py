"""What every route does first: who is calling, and may they; and the services the request was handed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.event_handler.api_gateway import Router

from timerack_bridge.api.auth import (
    Caller,
    TimerackAccess,
    caller_from_event,
    require_admin,
    require_admin_or_timerack_rep,
    require_timerack_rep,
)

if TYPE_CHECKING:
    from timerack_bridge.api.deps import Services

# The key of the request's services in the resolver's context (api/handler.py puts them there).
SERVICES = "services"


def services_of(router: Router) -> Services:
    """The services the composition root handed this request, through the resolver's context."""
    services: Services = router.context[SERVICES]
    return services


def caller(router: Router) -> Caller:
    return caller_from_event(router.current_event.raw_event)


def admin_caller(router: Router) -> Caller:
    current = caller(router)
    require_admin(current)
    return current


def timerack_access(router: Router) -> TimerackAccess:
    return require_timerack_rep(caller(router), services_of(router).admin)


def admin_or_timerack_access(router: Router) -> TimerackAccess:
    """An admin's access (every client) or a rep's (their clients): the routes TempWorks staff share."""
    return require_admin_or_timerack_rep(caller(router), services_of(router).admin)
