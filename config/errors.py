"""Errors raised by services and selectors, independent of the door they came through.

The API maps them to a JSON error with their status, the admin to a form error and the
commands to a one-line CommandError.
"""


class DomainError(Exception):
    status_code = 400
    code = "invalid_parameter"  # the API's machine-readable slug (docs/api.md lists them)

    def __init__(self, message: str, *, errors: dict | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.fields: dict = {}  # more top-level members of the API's error body


class InsufficientCreditsError(DomainError):
    """A hold or an extension refused under `block`: it would take available credit past the overdraft limit."""

    status_code = 402
    code = "insufficient_credits"

    def __init__(self, message: str, *, available: str, requested: str):
        super().__init__(message, errors={"amount": [message]})
        self.fields = {"available": available, "requested": requested}


class NotFoundError(DomainError):
    status_code = 404
    code = "not_found"


class ConflictError(DomainError):
    status_code = 409
    code = "idempotency_conflict"


class PayloadTooLargeError(DomainError):
    status_code = 413
    code = "payload_too_large"
