"""Routers, one per route family of the contract (docs/contract.md)."""
