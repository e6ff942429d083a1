"""What a service rep may do with Timerack: see the nodes at or below their own, create timecards where
their node allows master data."""

from __future__ import annotations

from dataclasses import dataclass

from timerack_bridge.domain.entities import ServiceRep
from timerack_bridge.domain.hierarchy import HierarchyTree


@dataclass(frozen=True)
class TimerackAccess:
    """A service rep who passed the security-group check, with the tree to judge visibility."""

    rep: ServiceRep
    tree: HierarchyTree

    def sees(self, node_id: str) -> bool:
        return self.tree.is_at_or_below(node_id, self.rep.current_hierarchy_node_id)

    @property
    def may_create_timecards(self) -> bool:
        return self.tree.allows_master_data(self.rep.current_hierarchy_node_id)
