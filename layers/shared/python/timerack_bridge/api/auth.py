"""Who is calling, from the request's claims: one code path for API Gateway (Cognito) and the local runtime.

API Gateway's Cognito authorizer (and the local runtime, after checking its own token's signature)
put the token's claims in requestContext.authorizer.claims; `sub` is the caller, `scope` its scopes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.entities import Customer
from timerack_bridge.domain.hierarchy import HierarchyTree
from timerack_bridge.exceptions import ForbiddenError, NotFoundError, UnauthorizedError
from timerack_bridge.logic.timerack_access import timerack_access_of

ADMIN_SCOPE = "timerack/admin"
TIMECARDS_SCOPE = "timerack/timecards.write"


@dataclass(frozen=True)
class Caller:
    principal: str
    scopes: frozenset[str]


def caller_from_event(raw_event: dict[str, Any]) -> Caller:
    claims = ((raw_event.get("requestContext") or {}).get("authorizer") or {}).get("claims") or {}
    principal = claims.get("sub") or claims.get("client_id")
    if not principal:
        raise UnauthorizedError("a valid bearer token is required")
    scope = claims.get("scope") or ""
    scopes = frozenset(str(scope).split())
    if not scopes & {ADMIN_SCOPE, TIMECARDS_SCOPE}:
        # API Gateway lets a token through with either scope; checked here too, so a token for
        # another API of the same user pool never reaches a route (and the local runtime agrees).
        raise ForbiddenError(f"the token carries neither the {TIMECARDS_SCOPE} nor the {ADMIN_SCOPE} scope")
    return Caller(principal=str(principal), scopes=scopes)


def require_admin(caller: Caller) -> None:
    if not is_admin(caller):
        raise ForbiddenError(f"this route needs the {ADMIN_SCOPE} scope")


def require_timerack_rep(caller: Caller, admin_store: Any) -> TimerackAccess:
    """The caller must be a rep in a group with the Timerack permission, at or below the group's node."""
    access = timerack_access_of(admin_store, caller.principal)
    if access is not None:
        return access
    if admin_store.get_rep_by_principal(caller.principal) is None:
        raise ForbiddenError("the caller is not a service rep of this agency")
    raise ForbiddenError(
        "the service rep is not a member of an Open API Custom Integrations security group "
        "with the Timerack permission at or above their hierarchy level"
    )


def is_admin(caller: Caller) -> bool:
    return ADMIN_SCOPE in caller.scopes


def require_admin_or_timerack_rep(caller: Caller, admin_store: Any) -> TimerackAccess:
    """A TempWorks admin (scope timerack/admin, no rep needed) sees every client; anyone else must be a rep."""
    if is_admin(caller):
        return TimerackAccess.for_admin(HierarchyTree.of(admin_store.list_nodes()))
    return require_timerack_rep(caller, admin_store)


def client_not_found(client_key: str) -> NotFoundError:
    """One answer for a key no customer has and a key the rep cannot see: a rep learns nothing of other clients."""
    return NotFoundError(f"The Timerack Client Key {client_key} could not be found or is not currently visible.")


def require_visible_client(access: TimerackAccess, admin_store: Any, client_key: str) -> Customer:
    """The Primary Customer of a client key, if the rep sees it; 404 otherwise (absent or hidden alike)."""
    customer = admin_store.get_customer_by_client_key(client_key)
    if customer is None or not access.sees(customer.hierarchy_node_id):
        raise client_not_found(client_key)
    return customer


def require_visible_customer(access: TimerackAccess, admin_store: Any, customer_id: int) -> Customer:
    """A customer the rep sees; 404 otherwise, the same for a customer that does not exist."""
    customer = admin_store.get_customer(customer_id)
    if customer is None or not access.sees(customer.hierarchy_node_id):
        raise NotFoundError(f"The customer with an Id of {customer_id} could not be found or is not currently visible.")
    return customer
