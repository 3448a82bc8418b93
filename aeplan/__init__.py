"""AE Plan: book demos and client visits, staff them, publish them to calendars."""
from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, g, make_response, render_template, request, session
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from aeplan import config as config_module
from aeplan import outage
from aeplan.extensions import babel, csrf, db, login_manager, migrate
from aeplan.guards import BadInput
from aeplan.observability import AEPlanFlask

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, CLI, error pages, logging."""
    app = AEPlanFlask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(config_module.from_environment(app.instance_path))
    if config:
        app.config.update(config)
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", config_module.engine_options(app.config))
    _require_secret_key(app)
    register_proxy(app)
    register_extensions(app)
    register_blueprints(app)
    register_template_helpers(app)
    register_error_handlers(app)
    register_input_guards(app)
    register_write_transactions(app)
    register_security_headers(app)
    register_observability(app)
    register_mail(app)
    register_commands(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return app


def _require_secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.debug or app.testing or os.environ.get("FLASK_DEBUG") or _is_cli():
        app.config["SECRET_KEY"] = config_module.local_secret_key(app.instance_path)
        return
    raise RuntimeError("SECRET_KEY must be set outside debug mode (see README, Configuration).")


def _is_cli() -> bool:
    # `flask --app app <command>` signs no cookies a browser keeps, but a key is needed to start.
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true"


def _select_locale():
    """The user's chosen language, else the browser's first English or German variant,
    region kept (en-GB gets 24-hour times and day-month dates)."""
    if current_user.is_authenticated and current_user.locale:
        return current_user.locale
    for tag, _quality in request.accept_languages:
        language = tag.split("-")[0].lower()
        if language in ("en", "de"):
            region = tag.split("-")[1].upper() if "-" in tag else ""
            return f"{language}_{region}" if region.isalpha() and len(region) == 2 else language
    return "en"


def _select_timezone():
    if current_user.is_authenticated:
        return current_user.timezone
    return None


def register_proxy(app: Flask) -> None:
    """Behind `AEPLAN_PROXY_HOPS` trusted proxies, take the client's address, scheme and
    host from their X-Forwarded-* headers (sign-in throttling keys on that address).
    Without proxies the headers are ignored: anyone can send them."""
    hops = int(app.config.get("AEPLAN_PROXY_HOPS") or 0)
    if hops > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrations = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "migrations")
    migrate.init_app(app, db, directory=os.path.normpath(migrations))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    with app.app_context():  # the engines exist already; nothing connects here
        for engine in db.engines.values():
            if engine.dialect.name == "postgresql":
                outage.watch_statements(engine, app.config.get("AEPLAN_DB_STATEMENT_TIMEOUT", 20)
                                        + outage.WATCHDOG_MARGIN_SECONDS)

    # Import the models so that metadata knows every table (migrations, create_all),
    # the connection hooks so that every engine gets them, and the session hooks that
    # keep the feeds' data version.
    from aeplan import (
        models,  # noqa: F401
        transactions,  # noqa: F401
    )
    from aeplan.auth.service import signed_in_user
    from aeplan.calendar import service as _feed_version_hooks  # noqa: F401
    from aeplan.transactions import MAX_ID, valid_id

    @login_manager.user_loader
    def load_user(session_id: str):
        """`session_id` is User.get_id(): "<id>:<generation>". Anything else (a session
        from before generations, a forged value) names nobody."""
        user_id, _, generation = session_id.partition(":")
        if not all(part.isascii() and part.isdigit() for part in (user_id, generation)) \
                or not valid_id(int(user_id)) or int(generation) > MAX_ID:
            return None
        return signed_in_user(int(user_id), int(generation))


def register_blueprints(app: Flask) -> None:
    from aeplan.views import IdConverter

    app.url_map.converters["int"] = IdConverter
    from aeplan.admin.views import bp as admin_bp
    from aeplan.auth.views import bp as auth_bp
    from aeplan.bookings.views import bp as bookings_bp
    from aeplan.calendar.views import bp as calendar_bp
    from aeplan.clients.views import bp as clients_bp
    from aeplan.main.views import bp as main_bp
    from aeplan.reports.views import bp as reports_bp
    from aeplan.staffing.views import bp as staffing_bp
    from aeplan.trips.views import bp as trips_bp

    for bp in (main_bp, auth_bp, clients_bp, bookings_bp, calendar_bp, staffing_bp, trips_bp,
               reports_bp, admin_bp):
        app.register_blueprint(bp)


def register_template_helpers(app: Flask) -> None:
    from aeplan import display

    display.register(app)


def register_error_handlers(app: Flask) -> None:
    from aeplan.errors import DomainError

    def page(code: int, title: str, message: str):
        return render_template("errors/error.html", code=code, title=title, message=message), code

    @app.errorhandler(400)
    def bad_request(e):
        if isinstance(e, BadInput):
            return page(400, "Bad request", e.description)
        return page(400, "Bad request", "The request could not be understood.")

    @app.errorhandler(413)
    def too_large(e):
        return page(413, "Bad request", "The request is too large.")

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return page(400, "Form expired",
                    "The form was missing its security token or it expired. "
                    "Go back, reload the page and try again.")

    @app.errorhandler(403)
    def forbidden(e):
        return page(403, "Not allowed", "You do not have access to this page.")

    @app.errorhandler(404)
    def not_found(e):
        return page(404, "Not found", "There is nothing at this address.")

    @app.errorhandler(405)
    def method_not_allowed(e):
        return page(405, "Not allowed", "This address does not accept that kind of request.")

    @app.errorhandler(DomainError)
    def domain_error(e: DomainError):
        _rollback_quietly()
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Wait a moment"}
        return page(e.status, titles.get(e.status, "Cannot do that"), e.message)

    @app.errorhandler(DBAPIError)
    @app.errorhandler(PoolTimeout)
    def database_unavailable(e: SQLAlchemyError):
        """A database that is down, silent or locked answers a plain 503 that asks to
        come back later; any other database error is a bug and stays a 500."""
        if not outage.is_outage(e):
            raise e
        _rollback_quietly()
        app.logger.warning("database unavailable on %s [%s]: %s", request.path,
                           request.method, type(getattr(e, "orig", None) or e).__name__)
        # The page must not need the database: the signed-in user is not loaded again.
        g._login_user = login_manager.anonymous_user()
        response = make_response(page(503, "Database unavailable",
                                      "The database is not answering. Please try again "
                                      "in a moment."))
        response.headers["Retry-After"] = str(outage.RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(500)
    def server_error(e):
        _rollback_quietly()
        return page(500, "Something went wrong",
                    "The error has been logged. Please try again in a moment.")


def _rollback_quietly() -> None:
    """End the session's transaction after an error. With the database gone the rollback
    fails too; the session is then reset all the same, and holds nothing for the next
    request."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.close()


def register_input_guards(app: Flask) -> None:
    from aeplan import guards

    guards.register(app)


def register_write_transactions(app: Flask) -> None:
    """Every POST runs in a write transaction from its first query, unless its view reads
    first (aeplan.transactions.reads_first); every other request runs as reads, except
    views that open no unit of work at all (aeplan.transactions.without_session)."""
    from aeplan.transactions import begin_read, begin_write

    @app.before_request
    def writes_begin_early():
        view = app.view_functions.get(request.endpoint)
        if getattr(view, "without_session", False):
            return
        if request.method == "POST" and not getattr(view, "reads_first", False):
            begin_write()
        else:
            begin_read()


def register_observability(app: Flask) -> None:
    from aeplan import observability

    if app.testing:
        app.config["AEPLAN_REQUEST_LOG"] = False
    observability.register(app)


# Endpoints that keep their own caching for signed-in users too: static files, and the
# feeds, whose ETag/Last-Modified and "private, no-cache" let calendar apps poll cheaply.
OWN_CACHING = frozenset({"static", "calendar.feed"})


def register_security_headers(app: Flask) -> None:
    @app.after_request
    def headers(response):
        # A signed-in user's pages and downloads (the profile shows the secret feed URL)
        # must not stay in a shared or back-button cache. The session says who is signed
        # in without loading the user, so this never queries (the database may be down).
        if request.endpoint not in OWN_CACHING and session.get("_user_id") is not None:
            response.headers["Cache-Control"] = "private, no-store"
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def register_mail(app: Flask) -> None:
    """Calendar invitations (iMIP) go through the outbox: importing the module installs
    the session hook that queues them with the change that calls for them. Nothing is
    sent during a request; `flask --app app outbox run` delivers (aeplan.outbox)."""
    from aeplan.calendar import mail  # noqa: F401


def register_commands(app: Flask) -> None:
    from aeplan.cli import register

    register(app)
