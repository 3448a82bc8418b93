"""Structured request logs and per-request SQL counts.

One JSON line per request on the "aeplan.request" logger: method, path (credentials in
it redacted), status, duration, user id, SQL statements run and the worker's pid. With
AEPLAN_QUERY_COUNT_HEADER set, responses also carry X-Query-Count (benchmarks read it).

A path that carries a credential (a feed token) never reaches a log: neither the request
log nor Flask's "Exception on <path>" line (see AEPlanFlask).
"""
from __future__ import annotations

import json
import logging
import os
import re
import time

from flask import Flask, g, has_app_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

log = logging.getLogger("aeplan.request")

# URL prefixes whose rest is a secret: /feeds/<token>.ics. Matched anywhere in the path,
# in any case, after any run of slashes and whatever follows, because a client may send
# /FEEDS/…, //feeds/…, /feeds/<token> without .ics or a mistyped separator, and each of
# those still carries the token (a 404 is logged like a 200).
SECRET_PREFIXES = ("feeds",)
_PREFIX = r"/+(" + "|".join(map(re.escape, SECRET_PREFIXES)) + r")"
SECRET_PATH = re.compile(_PREFIX + r".*", re.IGNORECASE | re.DOTALL)
SECRET_IN_TEXT = re.compile(_PREFIX + r"\S*", re.IGNORECASE)  # up to the next space
# And anything shaped like a feed token (user id, scope, 32-character MAC) wherever it
# stands, for a client or proxy that mangled the prefix.
TOKEN_SHAPE = re.compile(r"\d+-(?:me|c\d+)-[A-Za-z0-9_-]{32}")


def redact_path(path: str) -> str:
    """`path` as it may be logged: everything after a secret-bearing prefix is replaced."""
    path = SECRET_PATH.sub(lambda m: f"/{m[1].lower()}/<redacted>", path, count=1)
    return TOKEN_SHAPE.sub("<redacted>", path)


def redact_text(text: str) -> str:
    """A log message with every secret-bearing path in it redacted (to the next space)."""
    text = SECRET_IN_TEXT.sub(lambda m: f"/{m[1].lower()}/<redacted>", text)
    return TOKEN_SHAPE.sub("<redacted>", text)


class RedactSecrets(logging.Filter):
    """For loggers outside the app that print request paths: gunicorn's error log writes
    "GET /feeds/<token>.ics" for every request at debug level (see gunicorn.conf.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


class AEPlanFlask(Flask):
    """Flask, with the path in its exception log line redacted like the request log."""

    def log_exception(self, exc_info) -> None:
        self.logger.error("Exception on %s [%s]", redact_path(request.path), request.method,
                          exc_info=exc_info)


@event.listens_for(Engine, "before_cursor_execute")
def _count(conn, cursor, statement, parameters, context, executemany):
    if has_app_context():
        g.query_count = g.get("query_count", 0) + 1


def register(app: Flask) -> None:
    enabled = app.config.get("AEPLAN_REQUEST_LOG", not app.testing)
    header = app.config.get("AEPLAN_QUERY_COUNT_HEADER", False)

    @app.before_request
    def _start():
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        queries = g.get("query_count", 0)
        if header:
            response.headers["X-Query-Count"] = str(queries)
        if enabled:
            started = g.get("request_started")
            path = redact_path(request.path)
            # Only a user the request has loaded already: loading one here would touch
            # the database on /livez, and again after a database error.
            user = g.get("_login_user")
            user = user.id if user is not None and user.is_authenticated else None
            log.info(json.dumps({
                "method": request.method, "path": path, "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                "user": user, "queries": queries, "pid": os.getpid(),
            }, separators=(",", ":")))
        return response
