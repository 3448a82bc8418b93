"""Small helpers that keep views short."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, request

from aeplan.errors import DomainError
from aeplan.extensions import db
from aeplan.forms import apply_error

T = TypeVar("T")


def attempt(form, action: Callable[[], T]) -> tuple[T | None, int]:
    """Validate `form`, run `action` and commit; on failure roll back and put the reason on
    the form. Returns (result, HTTP status for re-rendering)."""
    if not form.validate_on_submit():
        return None, 422 if request.method == "POST" else 200
    try:
        result = action()
    except DomainError as error:
        db.session.rollback()
        apply_error(form, error)
        return None, error.status
    db.session.commit()
    return result, 200


def or_abort(fn: Callable[[], T]) -> T:
    """Run a service lookup, answering 403/404 for NotAllowed/NotFound."""
    try:
        return fn()
    except DomainError as error:
        db.session.rollback()
        abort(error.status if error.status in (403, 404) else 400)


def int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def page_arg() -> int:
    value = request.args.get("page", "1")
    return min(int(value), 100000) if value.isdigit() and int(value) > 0 else 1
