"""A Timerack service rep's access, read from the admin data: the API checks it on each request, and the intake
worker again when it writes a batch accepted earlier (the rep may have lost the group in between)."""

from __future__ import annotations

from timerack_bridge.domain.access import TimerackAccess
from timerack_bridge.domain.hierarchy import HierarchyTree, may_use_timerack
from timerack_bridge.logic.ports import AccessReader


def timerack_access_of(admin_store: AccessReader, principal: str) -> TimerackAccess | None:
    """The rep's access, if the principal is a rep in a group with the Timerack permission at or above their
    node; None otherwise."""
    rep = admin_store.get_rep_by_principal(principal)
    if rep is None:
        return None
    tree = HierarchyTree.of(admin_store.list_nodes())
    if not may_use_timerack(rep, admin_store.list_groups(), tree):
        return None
    return TimerackAccess(rep=rep, tree=tree)
