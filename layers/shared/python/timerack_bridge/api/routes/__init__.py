"""Routers, one per route family of DESIGN.md §4."""
