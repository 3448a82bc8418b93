"""gunicorn settings for AE Plan: `gunicorn app:app` picks this file up.

Everything can be overridden from the environment (GUNICORN_CMD_ARGS, or the
variables read below)."""
import multiprocessing
import os

bind = os.environ.get("AEPLAN_BIND", "127.0.0.1:8000")
# Sync workers: each request holds one database connection; scale with processes.
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 8)))
worker_class = "sync"
timeout = int(os.environ.get("AEPLAN_WORKER_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 2
# Recycle workers now and then so that memory stays flat over weeks.
max_requests = 2000
max_requests_jitter = 200
# The app writes one JSON line per request (logger "aeplan.request", feed tokens
# redacted); gunicorn's own access log would print tokens, so it stays off.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("AEPLAN_LOG_LEVEL", "info")
# Behind a TLS-terminating proxy on the same host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 8190
