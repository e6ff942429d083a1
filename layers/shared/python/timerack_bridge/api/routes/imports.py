"""POST /v1/timecard-imports: the manual "Timerack Feed" Timecard Import."""

from __future__ import annotations

from aws_lambda_powertools.event_handler.api_gateway import Router

router = Router()
