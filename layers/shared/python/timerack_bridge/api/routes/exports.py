"""POST /v1/exports: "Update From TempWorks" (run the export now)."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()
