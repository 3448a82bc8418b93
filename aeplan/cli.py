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
