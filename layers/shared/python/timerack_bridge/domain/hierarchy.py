"""The hierarchy tree, the security-group check and visibility (docs/contract.md)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from timerack_bridge.domain.entities import HierarchyNode, SecurityGroup, ServiceRep
from timerack_bridge.domain.types import TIMERACK_PERMISSION


@dataclass(frozen=True)
class HierarchyTree:
    nodes: Mapping[str, HierarchyNode]

    @classmethod
    def of(cls, nodes: Iterable[HierarchyNode]) -> HierarchyTree:
        return cls({node.node_id: node for node in nodes})

    def ancestors_and_self(self, node_id: str) -> list[str]:
        """node_id, its parent, ... up to its root (a cycle or a missing parent stops the walk)."""
        chain: list[str] = []
        current: str | None = node_id
        while current is not None and current in self.nodes and current not in chain:
            chain.append(current)
            current = self.nodes[current].parent_id
        return chain

    def is_at_or_below(self, node_id: str, ancestor_id: str) -> bool:
        return ancestor_id in self.ancestors_and_self(node_id)

    def would_cycle(self, node_id: str, parent_id: str) -> bool:
        """Whether giving the node this parent makes the node its own ancestor (the parent is it or below it)."""
        return parent_id == node_id or self.is_at_or_below(parent_id, node_id)

    def allows_master_data(self, node_id: str) -> bool:
        node = self.nodes.get(node_id)
        return bool(node and node.allows_master_data)


def may_use_timerack(rep: ServiceRep, groups: Iterable[SecurityGroup], tree: HierarchyTree) -> bool:
    """A member of a group holding the Timerack permission, whose current node is at or below the group's."""
    return any(
        TIMERACK_PERMISSION in group.permissions
        and rep.rep_id in group.members
        and tree.is_at_or_below(rep.current_hierarchy_node_id, group.hierarchy_node_id)
        for group in groups
    )
