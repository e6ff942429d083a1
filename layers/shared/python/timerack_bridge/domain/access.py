"""What a caller may do with Timerack: see nodes, and create timecards where a node allows master data.

A service rep sees the nodes at or below their own and creates timecards where their own node allows
master data. A TempWorks admin (scope timerack/admin, no rep) stands at the root: sees every node, and
acts at the node of the customer it works for, so the article's hierarchy-level check applies there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from timerack_bridge.domain.entities import ServiceRep
from timerack_bridge.domain.hierarchy import HierarchyTree


@dataclass(frozen=True)
class TimerackAccess:
    """A service rep who passed the security-group check (or an admin: `rep` None), with the tree."""

    rep: ServiceRep | None
    tree: HierarchyTree
    # An admin's acting node: the customer's it imports for (None until the customer is known).
    acting_node_id: str | None = None

    @classmethod
    def for_admin(cls, tree: HierarchyTree) -> TimerackAccess:
        return cls(rep=None, tree=tree)

    @property
    def is_admin(self) -> bool:
        return self.rep is None

    def acting_for(self, customer_node_id: str) -> TimerackAccess:
        """An admin's access at the customer's node; a rep's access is their own node and stays as it is."""
        return replace(self, acting_node_id=customer_node_id) if self.is_admin else self

    def sees(self, node_id: str) -> bool:
        if self.rep is None:
            return True
        return self.tree.is_at_or_below(node_id, self.rep.current_hierarchy_node_id)

    @property
    def may_create_timecards(self) -> bool:
        node_id = self.rep.current_hierarchy_node_id if self.rep is not None else self.acting_node_id
        return node_id is not None and self.tree.allows_master_data(node_id)
