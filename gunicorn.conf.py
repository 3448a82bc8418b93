"""gunicorn settings for AE Plan: `gunicorn app:app` picks this file up.

Everything can be overridden from the environment (GUNICORN_CMD_ARGS, or the
variables read below)."""
import gc
import logging
import multiprocessing
import os

from aeplan.observability import RedactSecrets

bind = os.environ.get("AEPLAN_BIND", "127.0.0.1:8000")
# Sync workers: each request holds one database connection; scale with processes.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
timeout = int(os.environ.get("AEPLAN_WORKER_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 2
# Load the app once in the master and fork the workers from it: a worker that is
# recycled (below) or replaced after a crash is serving again in milliseconds, and the
# workers share the loaded code's memory. post_fork drops any database connection the
# master made, so no two processes ever share one.
preload_app = True
# Recycle workers now and then so that memory stays flat over weeks. Not too often: at
# 2,000 requests, workers restarted every second or two under load and each restart
# (before preloading) stalled requests for half a second, the whole of the p95.
max_requests = 20000
max_requests_jitter = 2000
# The heartbeat file on a RAM disk: on a slow or busy disk it can stall a worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# The app writes one JSON line per request (logger "aeplan.request", feed tokens
# redacted); gunicorn's own access log would print tokens, so it stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("AEPLAN_LOG_LEVEL", "info")
# At debug level gunicorn logs each request's method and path itself: redact feed tokens
# there too (the filter stays when gunicorn reconfigures the logger's handlers).
logging.getLogger("gunicorn.error").addFilter(RedactSecrets())
# Behind a TLS-terminating proxy on the same host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190


def pre_fork(server, worker):
    # Everything the master loaded lives as long as the worker: move it out of the
    # garbage collector's sight, so that full collections scan only what requests made
    # (on the bookings list GC fell from about 1 ms to 0.4 ms a request), and the
    # workers' copies of those pages stay shared.
    gc.freeze()


def post_fork(server, worker):
    from aeplan.extensions import db

    app = worker.app.wsgi()
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)
