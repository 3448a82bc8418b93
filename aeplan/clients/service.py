"""Clients and their contacts. Functions flush; callers commit."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from aeplan.auth.models import User
from aeplan.clients.models import INDUSTRIES, TIERS, Client, Contact
from aeplan.errors import Invalid, NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.permissions import (
    client_visibility,
    require_edit_client,
    require_view_client,
    require_view_clients,
)
from aeplan.records import fetch
from aeplan.timeutil import is_valid_zone, now_utc
from aeplan.transactions import valid_id


@dataclass
class ClientInput:
    name: str
    industry: str
    tier: str
    owner_id: int | None
    timezone: str
    cadence_days: int
    gift_rules: bool = False
    notes: str = ""


@dataclass
class ClientFilters:
    q: str = ""
    industry: str = ""
    tier: str = ""
    owner_id: int | None = None
    archived: bool = False


def list_clients(viewer: User, filters: ClientFilters, *, page: int = 1, per_page: int = 25):
    """A page of clients (key accounts first) and the total count matching the filters."""
    require_view_clients(viewer)
    stmt = select(Client).where(client_visibility(viewer))
    if filters.q:
        stmt = stmt.where(func.lower(Client.name).contains(filters.q.strip().lower(),
                                                           autoescape=True))
    if filters.industry:
        stmt = stmt.where(Client.industry == filters.industry)
    if filters.tier:
        stmt = stmt.where(Client.tier == filters.tier)
    if filters.owner_id:
        stmt = stmt.where(Client.owner_id == filters.owner_id)
    stmt = stmt.where(
        Client.archived_at.is_not(None) if filters.archived else Client.archived_at.is_(None)
    )
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = db.session.scalars(
        stmt.options(joinedload(Client.owner))
        .order_by((Client.tier == "key").desc(), Client.name)
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return rows, total


@cache
def _client_query():
    """Built once, on first use (its loader options need every model mapped). The
    contacts are joined: a client has a few, and loading them in a second statement
    (selectinload) cost the client page, on PostgreSQL, a tenth of its throughput."""
    return (select(Client).where(Client.id == bindparam("client_id"))
            .options(joinedload(Client.owner), joinedload(Client.contacts)))


def get_client(viewer: User, client_id: int) -> Client:
    """The client if the viewer may see it; NotFound alike for missing and hidden ones."""
    client = (db.session.execute(_client_query(), {"client_id": client_id})
              .unique().scalar_one_or_none())
    if client is None:
        raise NotFound("No such client.")
    require_view_client(viewer, client)
    return client


def bookable_clients(actor: User) -> list[Client]:
    """Clients `actor` may create bookings for: their own, or all for managers."""
    stmt = select(Client).where(Client.archived_at.is_(None)).order_by(Client.name)
    if not actor.is_manager:
        stmt = stmt.where(Client.owner_id == actor.id)
    return list(db.session.scalars(stmt))


_ACTIVE_AES = (select(User.id, User.name).where(User.role == "ae", User.active.is_(True))
               .order_by(User.name))


def account_executives() -> list:
    """Active AEs as (id, name) rows, for choosers and filters on many pages."""
    return fetch(_ACTIVE_AES)


def _check(data: ClientInput, *, actor: User, existing: Client | None) -> int:
    name = data.name.strip()
    if not name:
        raise Invalid("Enter the client's name.", field="name")
    if len(name) > 160:
        raise Invalid("The name can have at most 160 characters.", field="name")
    if data.industry not in INDUSTRIES:
        raise Invalid("Choose an industry from the list.", field="industry")
    if data.tier not in TIERS:
        raise Invalid("Choose key or standard.", field="tier")
    if not is_valid_zone(data.timezone):
        raise Invalid(f"Unknown timezone: {data.timezone!r}.", field="timezone")
    if not 1 <= data.cadence_days <= 730:
        raise Invalid("Contact cadence must be between 1 and 730 days.", field="cadence_days")
    owner_id = data.owner_id
    if not actor.is_manager:
        if owner_id not in (None, actor.id):
            raise NotAllowed("You can only create and keep clients of your own.")
        owner_id = actor.id if existing is None else existing.owner_id
    else:
        owner = db.session.get(User, owner_id) if valid_id(owner_id) else None
        if owner is None or owner.role != "ae" or not owner.active:
            raise Invalid("Choose an active account executive as owner.", field="owner_id")
    clash = db.session.scalar(
        select(Client.id).where(func.lower(Client.name) == name.lower())
    )
    if clash is not None and (existing is None or clash != existing.id):
        raise Invalid("A client with this name already exists.", field="name")
    return owner_id


def create_client(data: ClientInput, *, actor: User) -> Client:
    if actor.role not in ("ae", "manager", "admin"):
        raise NotAllowed("Only AEs and managers create clients.")
    owner_id = _check(data, actor=actor, existing=None)
    client = Client(
        name=data.name.strip(), industry=data.industry, tier=data.tier, owner_id=owner_id,
        timezone=data.timezone, cadence_days=data.cadence_days,
        gift_rules=data.gift_rules, notes=data.notes.strip(),
    )
    db.session.add(client)
    db.session.flush()
    return client


def update_client(client: Client, data: ClientInput, *, actor: User) -> Client:
    require_edit_client(actor, client)
    owner_id = _check(data, actor=actor, existing=client)
    client.name = data.name.strip()
    client.industry = data.industry
    client.tier = data.tier
    client.owner_id = owner_id
    client.timezone = data.timezone
    client.cadence_days = data.cadence_days
    client.gift_rules = data.gift_rules
    client.notes = data.notes.strip()
    db.session.flush()
    return client


def set_archived(client: Client, archived: bool, *, actor: User) -> Client:
    require_edit_client(actor, client)
    client.archived_at = now_utc() if archived else None
    db.session.flush()
    return client


def contact_email(value: str) -> str:
    """One plain address, lower-cased, or "" for none; anything else is Invalid. It goes
    into invitation emails' headers and iCal ATTENDEE lines, where a line break or a
    second address would inject one of its own."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise Invalid("Enter one valid email address.", field="email") from None
    if len(checked.normalized) > 254:
        raise Invalid("Enter one valid email address.", field="email")
    return checked.normalized.lower()


def add_contact(client: Client, *, name: str, email: str, title: str, actor: User) -> Contact:
    require_edit_client(actor, client)
    if not name.strip():
        raise Invalid("Enter the contact's name.", field="name")
    email = contact_email(email)
    contact = Contact(client_id=client.id, name=name.strip(), email=email, title=title.strip())
    db.session.add(contact)
    db.session.flush()
    return contact

