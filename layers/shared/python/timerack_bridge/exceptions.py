"""Domain exceptions; the API's exception handlers turn each into one HTTP status."""

from __future__ import annotations


class BridgeError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnauthorizedError(BridgeError):
    status_code = 401


class ForbiddenError(BridgeError):
    status_code = 403


class NotFoundError(BridgeError):
    status_code = 404


class ConflictError(BridgeError):
    status_code = 409


class PayloadTooLargeError(BridgeError):
    status_code = 413


class UnprocessableError(BridgeError):
    status_code = 422
