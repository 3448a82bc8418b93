"""Settings from the environment. Nothing here touches the database."""
from __future__ import annotations

import math
import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def _float(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def with_psycopg(url: str) -> str:
    """`postgres://` and `postgresql://` URLs, as people write them, use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_url(instance_path: str) -> str:
    return "sqlite:///" + str(Path(instance_path) / "aeplan.db")


def local_secret_key(instance_path: str) -> str:
    """A development key generated once and kept in instance/ so sessions survive restarts."""
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def engine_options(config: dict) -> dict:
    """Options for SQLAlchemy's engine, from the final config (the database URL may come
    from the caller rather than the environment).

    Statement parameters never reach a log or an error message: a failed statement's
    parameters can hold a password hash or a token.

    On PostgreSQL no request waits on the database for ever: connecting is bounded by
    AEPLAN_DB_CONNECT_TIMEOUT (a server that accepts TCP and never answers included),
    each statement by AEPLAN_DB_STATEMENT_TIMEOUT (the server cancels it), and a
    connection whose peer stops acknowledging (a dead host, a cut network) is dropped
    by the kernel through TCP keepalives and tcp_user_timeout, instead of hanging a
    worker until gunicorn kills it."""
    options: dict = {"hide_parameters": True}
    url = str(config.get("SQLALCHEMY_DATABASE_URI") or "")
    if url.startswith("postgresql"):
        connect = config.get("AEPLAN_DB_CONNECT_TIMEOUT", 2)
        statement_ms = int(config.get("AEPLAN_DB_STATEMENT_TIMEOUT", 20) * 1000)
        # Added to what the URL's own `options` say (a search_path, say): a connect
        # argument would replace them.
        given = make_url(url).query.get("options", "")
        given = " ".join(given) if isinstance(given, tuple) else given
        options["connect_args"] = {
            # libpq counts whole seconds and treats anything below 2 as 2.
            "connect_timeout": max(2, math.ceil(connect)),
            "options": f"{given} -c statement_timeout={statement_ms}".strip(),
            "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": statement_ms,
        }
    return options


def from_environment(instance_path: str) -> dict:
    """Build the config mapping from environment variables."""
    database_url = with_psycopg(os.environ.get("DATABASE_URL") or sqlite_url(instance_path))
    base_url = os.environ.get("AEPLAN_BASE_URL", "").rstrip("/")
    mail_port = os.environ.get("MAIL_PORT", "").strip()
    return {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "AEPLAN_BASE_URL": base_url,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": base_url.startswith("https://")
        or _bool(os.environ.get("SESSION_COOKIE_SECURE")),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "AEPLAN_LOCALES": ["en", "de"],
        "LOGIN_MAX_FAILURES": int(os.environ.get("AEPLAN_LOGIN_MAX_FAILURES", "10")),
        "LOGIN_WINDOW_MINUTES": int(os.environ.get("AEPLAN_LOGIN_WINDOW_MINUTES", "15")),
        # Failed sign-ins for one account slow every later attempt on it (from anywhere):
        # after the free ones, a wait starting at the first delay, doubling, capped.
        "LOGIN_FREE_FAILURES": int(os.environ.get("AEPLAN_LOGIN_FREE_FAILURES", "3")),
        "LOGIN_FIRST_DELAY": float(os.environ.get("AEPLAN_LOGIN_FIRST_DELAY", "0.25")),
        "LOGIN_MAX_DELAY": float(os.environ.get("AEPLAN_LOGIN_MAX_DELAY", "5")),
        # Trusted reverse proxies in front of the app; 0 ignores X-Forwarded-* entirely,
        # so that a client cannot claim another address.
        "AEPLAN_PROXY_HOPS": max(0, int(os.environ.get("AEPLAN_PROXY_HOPS", "").strip() or 0)),
        "PAGE_SIZE": 25,
        # AEs see the whole team's clients, bookings and invitations; off: only their own
        # clients and the bookings they own or that serve those clients.
        "AEPLAN_AE_SEES_TEAM": _bool(os.environ.get("AEPLAN_AE_SEES_TEAM"), default=True),
        # No form takes files; the longest field holds 10,000 characters.
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "AEPLAN_REQUEST_LOG": _bool(os.environ.get("AEPLAN_REQUEST_LOG"), True),
        "AEPLAN_QUERY_COUNT_HEADER": _bool(os.environ.get("AEPLAN_QUERY_COUNT_HEADER")),
        # Key for feed tokens; derived from SECRET_KEY when not set.
        "AEPLAN_FEED_KEY": os.environ.get("AEPLAN_FEED_KEY", ""),
        # Invitations by email (iMIP); an empty MAIL_SERVER turns email off.
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", "").strip(),
        # None: 587 with STARTTLS, 25 without (see aeplan.calendar.mail).
        "MAIL_PORT": int(mail_port) if mail_port else None,
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        # STARTTLS, on unless turned off (a local relay on port 25, say); never falls
        # back to plain text when the server does not offer it.
        "MAIL_USE_TLS": _bool(os.environ.get("MAIL_USE_TLS"), default=True),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "").strip() or "AE Plan <aeplan@localhost>",
        # Seconds for each socket operation, and for a whole step (connecting and signing
        # in, or one message): a server that trickles bytes never trips the first.
        "MAIL_TIMEOUT": float(os.environ.get("MAIL_TIMEOUT", "").strip() or 10),
        "MAIL_DEADLINE": float(os.environ.get("MAIL_DEADLINE", "").strip() or 60),
        # The outbox worker (aeplan.outbox.worker): tries per message, the first wait
        # before a retry (doubling up to the maximum), the pause between polls, and how
        # many messages one worker claims at a time.
        "AEPLAN_OUTBOX_MAX_ATTEMPTS": _int("AEPLAN_OUTBOX_MAX_ATTEMPTS", 8),
        "AEPLAN_OUTBOX_RETRY_SECONDS": _float("AEPLAN_OUTBOX_RETRY_SECONDS", 60),
        "AEPLAN_OUTBOX_RETRY_MAX_SECONDS": _float("AEPLAN_OUTBOX_RETRY_MAX_SECONDS", 3600),
        "AEPLAN_OUTBOX_POLL_SECONDS": _float("AEPLAN_OUTBOX_POLL_SECONDS", 5),
        "AEPLAN_OUTBOX_BATCH": _int("AEPLAN_OUTBOX_BATCH", 20),
        # Database outages answer 503 quickly instead of hanging (see engine_options):
        # seconds to connect (PostgreSQL; also /healthz's whole budget), seconds a
        # statement may run (PostgreSQL), seconds to wait for SQLite's write lock.
        "AEPLAN_DB_CONNECT_TIMEOUT": _seconds("AEPLAN_DB_CONNECT_TIMEOUT", 2),
        "AEPLAN_DB_STATEMENT_TIMEOUT": _seconds("AEPLAN_DB_STATEMENT_TIMEOUT", 20),
        "AEPLAN_SQLITE_BUSY_TIMEOUT": _seconds("AEPLAN_SQLITE_BUSY_TIMEOUT", 10),
    }
