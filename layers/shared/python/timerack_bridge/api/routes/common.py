"""What every route does first: who is calling, and may they."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

from timerack_bridge.api import deps
from timerack_bridge.api.auth import (
    Caller,
    TimerackAccess,
    caller_from_event,
    require_admin,
    require_timerack_rep,
)


def caller(router: Router) -> Caller:
    return caller_from_event(router.current_event.raw_event)


def admin_caller(router: Router) -> Caller:
    current = caller(router)
    require_admin(current)
    return current


def timerack_access(router: Router) -> TimerackAccess:
    return require_timerack_rep(caller(router), deps.services().admin)
