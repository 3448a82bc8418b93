"""Small helpers that keep views short."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import abort, request
from werkzeug.routing import IntegerConverter

from aeplan.errors import DomainError
from aeplan.extensions import db
from aeplan.forms import apply_error
from aeplan.transactions import MAX_ID, undo

T = TypeVar("T")


def attempt(form, action: Callable[[], T]) -> tuple[T | None, int]:
    """Validate `form`, run `action` and commit; on failure undo what it wrote (see
    transactions.undo) and put the reason on the form. Returns (result, HTTP status for
    re-rendering)."""
    if not form.validate_on_submit():
        return None, 422 if request.method == "POST" else 200
    try:
        result = action()
    except DomainError as error:
        undo()
        apply_error(form, error)
        return None, error.status
    db.session.commit()
    return result, 200


def or_abort(fn: Callable[[], T]) -> T:
    """Run a service lookup or action. NotFound answers the plain 404 page, the same
    whether the object is missing or hidden; any other refusal (NotAllowed 403, a
    conflict 409, ...) reaches the DomainError handler: its status and its reason."""
    try:
        return fn()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            abort(404)
        raise


def parse_id(value) -> int | None:
    """A database id from text: ASCII digits only, within a 32-bit integer, else None."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def int_arg(name: str) -> int | None:
    return parse_id(request.args.get(name, ""))


def page_arg() -> int:
    return min(parse_id(request.args.get("page", "1")) or 1, 100000)


class IdConverter(IntegerConverter):
    """`<int:...>` in URLs: ids that fit the database's integer; larger ones are 404."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)
