"""Checks every request passes before any view sees it: text that no field may hold.

No form of AE Plan takes files, no text may hold a NUL character (PostgreSQL refuses it
in a string, and no person types one), and everything must be UTF-8. Refusing these here,
once, keeps every form, query parameter and service free of the question, and answers a
clear 400 instead of a 500 deep inside a query or a template.
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, request
from werkzeug.exceptions import BadRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class BadInput(BadRequest):
    """A 400 whose description is shown to the person as it is."""


def _decoded(raw: bytes, *, form_encoded: bool) -> str:
    """`raw` as text, percent-escapes (and `+`) undone first for URL-encoded data."""
    if form_encoded:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("The request is not valid UTF-8 text.") from None


def check_request() -> None:
    """Raise BadInput for a file part, a NUL character or text that is not UTF-8, in the
    query string or a form body. The path is left to routing: no route takes a NUL or
    bad UTF-8 (ids are digits, feed tokens match a pattern), so such an address is a 404
    like any other that leads nowhere, and a feed URL gives no hint about its token."""
    if "\x00" in _decoded(request.query_string, form_encoded=True):
        raise BadInput("The address contains a NUL character.")
    if request.mimetype not in FORM_TYPES:
        return
    raw = request.get_data(cache=True)  # kept: the form is parsed from it afterwards
    multipart = request.mimetype == "multipart/form-data"
    if multipart and request.files:
        raise BadInput("This form does not take files; send its fields as text.")
    if "\x00" in _decoded(raw, form_encoded=not multipart):
        raise BadInput("The form contains a NUL character.")


def register(app: Flask) -> None:
    app.before_request(check_request)
