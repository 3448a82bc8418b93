"""Structured request logs and per-request SQL counts.

One JSON line per request on the "aeplan.request" logger: method, path (feed tokens
redacted), status, duration, user id, SQL statements run and the worker's pid. With
AEPLAN_QUERY_COUNT_HEADER set, responses also carry X-Query-Count (benchmarks read it).
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
FEED_PATH = re.compile(r"^/feeds/[^/]+\.ics$")


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
            path = "/feeds/<token>.ics" if FEED_PATH.match(request.path) else request.path
            # Only a user the request has loaded already: loading one here would touch
            # the database on /livez, and again after a database error.
            user = g.get("_login_user")
            user = user.get_id() if user is not None and user.is_authenticated else None
            log.info(json.dumps({
                "method": request.method, "path": path, "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
                "user": user, "queries": queries, "pid": os.getpid(),
            }, separators=(",", ":")))
        return response
