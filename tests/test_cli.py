"""`flask create-user` and `flask demo-data`."""
from __future__ import annotations

from sqlalchemy import func, select

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.models import Client, Contact
from aeplan.extensions import db
from aeplan.staffing.models import Assignment

PW = "plum-taxi-wobble-1987"  # passes the password rule (auth.passwords)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def counts() -> dict[str, int]:
    return {model.__name__: count(model)
            for model in (User, Client, Booking, Contact, Assignment)}


def create_user(runner, *extra, input=None):
    return runner.invoke(args=["create-user", *extra], input=input)


def can_sign_in(client, email, password) -> bool:
    client.post("/logout")
    return client.post("/login", data={"email": email, "password": password}).status_code == 303


# --- create-user ---------------------------------------------------------------------------

def test_create_user_creates_a_user_who_can_sign_in(runner, client):
    result = create_user(runner, "--email", "Boss@Example.com", "--name", "Big Boss",
                         "--role", "admin", "--password", PW)
    assert result.exit_code == 0, result.output
    assert "boss@example.com" in result.output
    user = db.session.scalar(select(User).where(User.email == "boss@example.com"))
    assert user is not None
    assert (user.name, user.role, user.discipline, user.active) == ("Big Boss", "admin", None,
                                                                    True)
    assert PW not in user.password_hash
    assert can_sign_in(client, "boss@example.com", PW)
    assert client.get("/admin/users/").status_code == 200


def test_create_support_user_with_discipline_and_timezone(runner):
    result = create_user(runner, "--email", "sam@example.com", "--name", "Sam Okafor",
                         "--role", "support", "--discipline", "technical",
                         "--timezone", "America/New_York", "--password", PW)
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "sam@example.com"))
    assert (user.role, user.discipline, user.timezone) == ("support", "technical",
                                                            "America/New_York")


def test_create_user_with_unknown_role_fails_without_writing(runner):
    result = create_user(runner, "--email", "x@example.com", "--name", "X",
                         "--role", "superuser", "--password", PW)
    assert result.exit_code != 0
    assert "role" in result.output.lower()
    assert "superuser" in result.output
    assert count(User) == 0


def test_create_user_with_duplicate_email_fails_without_writing(runner, make_user):
    existing = make_user("ae", email="taken@example.com", name="First Owner")
    result = create_user(runner, "--email", "TAKEN@example.com", "--name", "Second",
                         "--role", "manager", "--password", PW)
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert count(User) == 1
    db.session.expire_all()
    user = db.session.get(User, existing.id)
    assert (user.name, user.role) == ("First Owner", "ae")


def test_create_support_user_without_discipline_fails(runner):
    result = create_user(runner, "--email", "s@example.com", "--name", "S",
                         "--role", "support", "--password", PW)
    assert result.exit_code != 0
    assert "discipline" in result.output.lower()
    assert count(User) == 0


def test_create_user_with_unknown_timezone_fails(runner):
    result = create_user(runner, "--email", "t@example.com", "--name", "T", "--role", "ae",
                         "--timezone", "Mars/Base", "--password", PW)
    assert result.exit_code != 0
    assert "timezone" in result.output.lower()
    assert count(User) == 0


def test_create_user_with_short_password_fails(runner):
    result = create_user(runner, "--email", "p@example.com", "--name", "P", "--role", "ae",
                         "--password", "short")
    assert result.exit_code != 0
    assert "12 characters" in result.output
    assert count(User) == 0


def test_create_user_prompts_for_the_password(runner, client):
    result = create_user(runner, "--email", "prompted@example.com", "--name", "Prompted",
                         "--role", "ae", input=f"{PW}\n{PW}\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert PW not in result.output  # hidden input is not echoed
    assert count(User) == 1
    assert can_sign_in(client, "prompted@example.com", PW)


def test_create_user_prompt_with_mismatched_confirmation_writes_nothing(runner):
    result = create_user(runner, "--email", "m@example.com", "--name", "M", "--role", "ae",
                         input=f"{PW}\nsomething-else\n")
    assert result.exit_code != 0
    assert "match" in result.output
    assert count(User) == 0


# --- demo-data -----------------------------------------------------------------------------

def test_demo_data_prints_sign_ins_that_work(runner, client):
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    assert "/login" in result.output
    assert "demo-password" in result.output
    for email in ("admin@demo.aeplan.test", "manager@demo.aeplan.test", "ae@demo.aeplan.test",
                  "engineer@demo.aeplan.test"):
        assert email in result.output
    assert can_sign_in(client, "ae@demo.aeplan.test", "demo-password")
    assert can_sign_in(client, "admin@demo.aeplan.test", "demo-password")


def test_demo_data_twice_adds_nothing_the_second_time(runner):
    first = runner.invoke(args=["demo-data"])
    assert first.exit_code == 0, first.output
    after_first = counts()
    assert all(n > 0 for n in after_first.values()), after_first
    second = runner.invoke(args=["demo-data"])
    assert second.exit_code == 0, second.output
    db.session.expire_all()
    assert counts() == after_first


def test_demo_data_fills_in_around_existing_rows(runner):
    made = runner.invoke(args=["create-user", "--email", "ae@demo.aeplan.test",
                               "--name", "Already Here", "--role", "ae", "--password", PW])
    assert made.exit_code == 0, made.output
    result = runner.invoke(args=["demo-data"])
    assert result.exit_code == 0, result.output
    emails = list(db.session.scalars(select(User.email)))
    assert emails.count("ae@demo.aeplan.test") == 1
    assert count(Client) > 0


def test_demo_data_covers_roles_tiers_industries_and_cancellations(runner):
    assert runner.invoke(args=["demo-data"]).exit_code == 0
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {"ae", "support", "manager", "admin"}
    disciplines = set(db.session.scalars(select(User.discipline).where(User.role == "support")))
    assert {"technical", "creative"} <= disciplines
    assert None not in disciplines
    tiers = set(db.session.scalars(select(Client.tier)))
    assert tiers == {"key", "standard"}
    industries = set(db.session.scalars(select(Client.industry)))
    assert {"advertising", "public_relations", "financial_services", "technology"} <= industries
    assert db.session.scalar(select(func.count()).select_from(Client)
                             .where(Client.gift_rules.is_(True))) > 0
    cancelled = list(db.session.scalars(select(Booking).where(Booking.status == "cancelled")))
    assert cancelled
    assert all(b.sequence >= 1 for b in cancelled)
    active = db.session.scalar(select(func.count()).select_from(Booking)
                               .where(Booking.status != "cancelled"))
    assert active > 0
    # Every booking serves a client owned by its AE, and only support staff are assigned.
    for booking in db.session.scalars(select(Booking)):
        assert booking.owner_id == booking.client.owner_id
        assert booking.ends_at > booking.starts_at
    assigned_roles = set(db.session.scalars(
        select(User.role).join(Assignment, Assignment.user_id == User.id)))
    assert assigned_roles == {"support"}


def test_demo_data_if_empty_does_nothing_when_users_exist(runner, make_user):
    make_user("admin")
    before = counts()
    result = runner.invoke(args=["demo-data", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already has users" in result.output
    assert counts() == before
    assert count(Client) == 0


def test_demo_data_if_empty_loads_into_an_empty_database(runner):
    result = runner.invoke(args=["demo-data", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert count(User) > 0 and count(Client) > 0 and count(Booking) > 0
