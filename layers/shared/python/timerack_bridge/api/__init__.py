"""The HTTP API: one Powertools resolver, routers per route family, exception handlers."""
