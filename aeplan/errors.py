"""Domain errors raised by services; views turn them into HTTP answers."""
from __future__ import annotations


class DomainError(Exception):
    """Base class: `message` is shown to the user, `field` names the form field at fault."""

    status = 400

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotAllowed(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Invalid(DomainError):
    status = 422


class Conflict(DomainError):
    status = 409
