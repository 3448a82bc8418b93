"""`flask --app app ...` commands. Each calls the services and commits."""
from __future__ import annotations

import click
from flask import Flask

from aeplan.errors import DomainError
from aeplan.extensions import db


def register(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--role", required=True, type=click.Choice(["ae", "support", "manager", "admin"]))
    @click.option("--discipline", type=click.Choice(["technical", "creative", "other"]))
    @click.option("--skills", default="")
    @click.option("--timezone", "timezone_name", default="UTC", show_default=True)
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                  help="Prompted for when not given.")
    def create_user(email, name, role, discipline, skills, timezone_name, password):
        """Create a user who can sign in."""
        from aeplan.auth.service import UserInput
        from aeplan.auth.service import create_user as create

        try:
            user = create(UserInput(email=email, name=name, role=role, discipline=discipline,
                                    skills=skills, timezone=timezone_name, password=password),
                          actor=None)
        except DomainError as error:
            db.session.rollback()
            raise click.ClickException(error.message) from error
        db.session.commit()
        click.echo(f"Created {user.role} {user.email} (id {user.id}).")

    @app.cli.command("feed-url")
    @click.argument("email")
    def feed_url(email):
        """Print a user's calendar feed URL (issuing a token if they have none)."""
        from aeplan.auth.service import user_by_email
        from aeplan.calendar.service import feed_token, feed_url_path, key_from_config

        user = user_by_email(email)
        if user is None:
            raise click.ClickException(f"No user with email {email!r}.")
        if not user.active:
            raise click.ClickException(f"{user.email} is deactivated: their feed answers 404.")
        token = feed_token(user, key_from_config(app.config))
        db.session.commit()
        base = app.config.get("AEPLAN_BASE_URL") or "http://127.0.0.1:5000"
        click.echo(base + feed_url_path(token))
        if not app.config.get("AEPLAN_BASE_URL"):
            click.echo("(set AEPLAN_BASE_URL to print the public address)", err=True)

    @app.cli.command("demo-data")
    @click.option("--if-empty", is_flag=True,
                  help="Only load when the database has no users yet (used by `make run`).")
    def demo_data(if_empty):
        """Load a believable demo organisation (safe to run again)."""
        from aeplan.demo import has_users, load

        if if_empty and has_users():
            click.echo("The database already has users; demo data not loaded.")
            return
        click.echo("Loading the demo organisation ...")
        summary = load()
        db.session.commit()
        click.echo(summary)

    # --- the outbox: delivering queued mail (aeplan.outbox) ---------------------------------
    @app.cli.group("outbox")
    def outbox_group():
        """Outgoing mail: deliver what is queued, or show the counts."""

    @outbox_group.command("run")
    @click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
    @click.option("--interval", type=click.FloatRange(0.1), default=None,
                  help="Seconds between polls (default: AEPLAN_OUTBOX_POLL_SECONDS).")
    def outbox_run(once, interval):
        """Deliver queued mail with retries; runs until stopped (SIGTERM or Ctrl-C let
        the message being sent finish first)."""
        import signal
        import threading

        from aeplan.outbox import worker

        if not app.config.get("MAIL_SERVER"):
            raise click.ClickException("MAIL_SERVER is not set: mail is off, nothing is "
                                       "queued and nothing can be delivered.")
        if once:
            click.echo(str(worker.drain(app.config)))
            return
        interval = interval or float(app.config.get("AEPLAN_OUTBOX_POLL_SECONDS") or 5)
        stop = threading.Event()
        for name in ("SIGTERM", "SIGINT"):
            signal.signal(getattr(signal, name), lambda *_: stop.set())
        click.echo(f"Delivering mail through {app.config['MAIL_SERVER']}, polling every "
                   f"{interval:g} s.")
        worker.run(app.config, interval=interval, stop=stop, echo=click.echo)
        click.echo("Stopped.")

    @outbox_group.command("status")
    def outbox_status():
        """Print how many messages are in each state."""
        from aeplan import outbox

        counts = outbox.counts(db.session)
        db.session.rollback()
        for state, count in counts.items():
            click.echo(f"{state:<8} {count}")

    # --- operations: backups, restores, the move to PostgreSQL (aeplan.ops) ---------------
    from contextlib import contextmanager
    from pathlib import Path

    from aeplan import ops

    @contextmanager
    def ops_errors():
        try:
            yield
        except ops.OpsError as error:
            raise click.ClickException(str(error)) from error

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(path_type=Path))
    @click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
    def backup(path, force):
        """Back up the database to PATH, or to a timestamped file if PATH is a directory.

        SQLite is copied through its online backup API, PostgreSQL with pg_dump -Fc;
        both are safe while the app is serving."""
        with ops_errors():
            ops.backup(path, force=force, echo=click.echo)

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
    def restore(path, yes):
        """Replace the database's data with the backup at PATH (made by `backup`)."""
        def confirm(question):
            return yes or click.confirm(question, abort=True)

        with ops_errors():
            revision = ops.restore(path, confirm=confirm, echo=click.echo)
            click.echo("Restored. " + ops.revision_advice(revision))

    @app.cli.command("move-to-postgres")
    @click.argument("target_url", envvar="AEPLAN_MOVE_TARGET_URL")
    @click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1))
    def move_to_postgres(target_url, batch_size):
        """Copy every row of the SQLite database into the empty PostgreSQL database at
        TARGET_URL (or $AEPLAN_MOVE_TARGET_URL), then check that nothing was lost."""
        with ops_errors():
            ops.move_to_postgres(target_url, batch_size=batch_size, echo=click.echo)
        click.echo("Next: set DATABASE_URL to the new database (keep SECRET_KEY and "
                   "AEPLAN_FEED_KEY as they are) and start the app. Keep the SQLite file "
                   "as a backup.")
