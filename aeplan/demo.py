"""A believable demo organisation. Running it again adds nothing that is already there."""
from __future__ import annotations

import random
from datetime import datetime, time, timedelta

from sqlalchemy import func, select

from aeplan.auth.models import User
from aeplan.bookings.models import DEFAULT_BUFFER_MINUTES, Booking, BookingChange
from aeplan.clients.models import Client, Contact
from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from aeplan.staffing.service import find_clashes
from aeplan.timeutil import local_to_utc, now_utc, utc_to_local
from aeplan.trips.models import Trip

PASSWORD = "demo-password"

PEOPLE = [
    # email, name, role, discipline, skills, timezone
    ("admin@demo.aeplan.test", "Ada Admin", "admin", None, "", "Europe/Berlin"),
    ("manager@demo.aeplan.test", "Morgan Lee", "manager", None, "", "Europe/Berlin"),
    ("ae@demo.aeplan.test", "Alex Becker", "ae", None, "", "Europe/Berlin"),
    ("priya@demo.aeplan.test", "Priya Nair", "ae", None, "", "America/New_York"),
    ("tom@demo.aeplan.test", "Tom Walsh", "ae", None, "", "Europe/London"),
    ("engineer@demo.aeplan.test", "Sam Okafor", "support", "technical",
     "payments API, SSO, German", "Europe/Berlin"),
    ("lena@demo.aeplan.test", "Lena Fischer", "support", "technical",
     "data pipelines, German, Kubernetes", "Europe/Berlin"),
    ("raj@demo.aeplan.test", "Raj Patel", "support", "technical",
     "payments API, mobile SDK", "America/New_York"),
    ("designer@demo.aeplan.test", "Mia Rossi", "support", "creative",
     "Figma, brand workshops, Italian", "Europe/Berlin"),
    ("copy@demo.aeplan.test", "Noah Kim", "support", "creative",
     "copywriting, German, pitch decks", "Europe/London"),
    ("events@demo.aeplan.test", "Eva Novak", "support", "other",
     "event logistics, catering", "Europe/Berlin"),
]

CLIENTS = [
    # name, industry, tier, owner email, timezone, cadence, gift rules, contacts
    ("Nordbank AG", "financial_services", "key", "ae@demo.aeplan.test", "Europe/Berlin", 14, True,
     [("Claudia Vogel", "c.vogel@nordbank.example", "Head of Digital")]),
    ("Hanse Creative", "advertising", "standard", "ae@demo.aeplan.test", "Europe/Berlin", 30,
     False, [("Jonas Brandt", "jonas@hanse-creative.example", "Creative Director")]),
    ("Rhein Medical", "healthcare", "standard", "ae@demo.aeplan.test", "Europe/Berlin", 45, False,
     [("Dr. Petra Lang", "p.lang@rhein-medical.example", "CIO")]),
    ("Harbor Trust", "financial_services", "key", "priya@demo.aeplan.test", "America/New_York",
     14, True, [("Michael Chen", "mchen@harbortrust.example", "VP Operations")]),
    ("Brightline PR", "public_relations", "standard", "priya@demo.aeplan.test",
     "America/New_York", 30, False,
     [("Dana Brooks", "dana@brightline.example", "Managing Partner")]),
    ("Cobalt Systems", "technology", "key", "priya@demo.aeplan.test", "America/Chicago", 21,
     False, [("Luis Ortega", "lortega@cobalt.example", "CTO")]),
    ("Thames Media", "advertising", "standard", "tom@demo.aeplan.test", "Europe/London", 30, False,
     [("Olivia Hart", "olivia@thamesmedia.example", "Head of Strategy")]),
    ("Sterling & Co", "public_relations", "key", "tom@demo.aeplan.test", "Europe/London", 14,
     False, [("James Sterling", "james@sterling.example", "Founder")]),
    ("Kite Analytics", "technology", "standard", "tom@demo.aeplan.test", "Europe/Dublin", 60,
     False, [("Aoife Byrne", "aoife@kite.example", "Product Lead")]),
]

TITLES = {
    "demo": ["Platform demo", "Payments API walkthrough", "Reporting demo", "Roadmap preview"],
    "visit": ["Quarterly business review", "Workshop on site", "Kick-off visit",
              "Brand workshop"],
}


def has_users() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is not None


def load() -> str:
    rng = random.Random(2026)
    users = _people()
    clients = _clients(users)
    created = _bookings(clients, users, rng)
    db.session.flush()
    _trip(users, clients)
    lines = [
        f"Demo organisation ready ({len(users)} people, {len(clients)} clients, "
        f"{created} new bookings).",
        f"Sign in at /login with any of these (password: {PASSWORD}):",
    ]
    for email, name, role, discipline, _skills, _tz in PEOPLE[:6] + PEOPLE[8:9]:
        what = role + (f", {discipline}" if discipline else "")
        lines.append(f"  {email:<28} {name} ({what})")
    return "\n".join(lines)


def _people() -> dict[str, User]:
    existing = {u.email: u for u in db.session.scalars(select(User))}
    for email, name, role, discipline, skills, zone in PEOPLE:
        if email in existing:
            continue
        user = User(email=email, name=name, role=role, discipline=discipline, skills=skills,
                    timezone=zone)
        # Set directly, past the password rule (auth.passwords), which would refuse it: the
        # demo's shared password is meant to be typed from the README, never kept.
        user.set_password(PASSWORD)
        db.session.add(user)
        existing[email] = user
    db.session.flush()
    return {email: existing[email] for email, *_ in PEOPLE}


def _clients(users: dict[str, User]) -> list[Client]:
    existing = {c.name: c for c in db.session.scalars(select(Client))}
    out = []
    for name, industry, tier, owner, zone, cadence, gift_rules, contacts in CLIENTS:
        client = existing.get(name)
        if client is None:
            client = Client(name=name, industry=industry, tier=tier, owner_id=users[owner].id,
                            timezone=zone, cadence_days=cadence, gift_rules=gift_rules)
            db.session.add(client)
            db.session.flush()
            for contact_name, email, title in contacts:
                db.session.add(Contact(client_id=client.id, name=contact_name, email=email,
                                       title=title))
        out.append(client)
    db.session.flush()
    return out


def _trip(users: dict[str, User], clients: list[Client]) -> None:
    """A three-day trip to Frankfurt for the first AE, with a designer, two client visits,
    a dinner and its flight and hotel, entered through the services like a person would."""
    from aeplan.bookings.service import BookingInput, create_booking
    from aeplan.trips import service as trips

    if db.session.scalar(select(Trip.id).limit(1)) is not None:
        return
    ae, designer = users["ae@demo.aeplan.test"], users["designer@demo.aeplan.test"]
    nordbank, rhein = clients[0], clients[2]
    today = utc_to_local(now_utc(), "Europe/Berlin").date()
    first = today + timedelta(days=(7 - today.weekday()) % 7 + 14)  # a Monday ahead
    trip = trips.create_trip(trips.TripInput(
        title="Frankfurt client week", destination="Frankfurt am Main",
        timezone="Europe/Berlin", starts_on=first, ends_on=first + timedelta(days=2),
        notes="Hotel near the Messe; train back on Wednesday evening."), actor=ae)
    stops = [(nordbank, 0, 10, 3, "Quarterly business review"),
             (rhein, 1, 10, 3, "Brand workshop"), (nordbank, 1, 19, 2, "Client dinner")]
    for client, day, hour, hours, title in stops:
        start = datetime.combine(first + timedelta(days=day), time(hour, 0))
        create_booking(BookingInput(
            kind="visit", title=title, client_id=client.id, starts_local=start,
            ends_local=start + timedelta(hours=hours), timezone="Europe/Berlin",
            location=f"{client.name}, Frankfurt", needs_creative=1 if day == 1 else 0,
            trip_id=trip.id), actor=ae)
    if not find_clashes([designer.id], *_trip_span(first))[designer.id]:
        trips.add_traveller(trip, designer, actor=ae)
    trips.add_expense(trip, trips.ExpenseInput(
        category="flight", amount="412.80", currency="EUR", spent_on=first,
        allocation="even", note="BER-FRA return, two people"), actor=ae)
    trips.add_expense(trip, trips.ExpenseInput(
        category="hotel", amount="389.00", currency="EUR", spent_on=first + timedelta(days=2),
        allocation="hours", note="Two nights"), actor=ae)


def _trip_span(first):
    start = local_to_utc(datetime.combine(first, time(0, 0)), "Europe/Berlin")
    return start, start + timedelta(days=3)


def _bookings(clients: list[Client], users: dict[str, User], rng: random.Random) -> int:
    have = set(db.session.scalars(
        select(Booking.client_id).group_by(Booking.client_id).having(func.count() > 0)
    ))
    staff = {d: [u for u in users.values() if u.discipline == d]
             for d in ("technical", "creative", "other")}
    created = 0
    for index, client in enumerate(clients):
        if client.id in have:
            continue
        today = utc_to_local(now_utc(), client.timezone).date()
        for n in range(5):
            kind = "visit" if (index + n) % 3 == 0 else "demo"
            day = today + timedelta(days=rng.randint(-20, 40))
            while day.weekday() >= 5:
                day += timedelta(days=1)
            hour = rng.choice([9, 10, 11, 13, 14, 15, 16])
            start_local = datetime.combine(day, time(hour, 0))
            hours = 3 if kind == "visit" else 1
            starts_at = local_to_utc(start_local, client.timezone)
            past = starts_at < now_utc()
            status = "done" if past else rng.choice(["tentative", "confirmed", "confirmed"])
            if n == 4 and index % 2 == 0:
                status = "cancelled"
            needs_technical = 1 if kind == "demo" or n % 2 == 0 else 0
            needs_creative = 1 if kind == "visit" and client.industry in (
                "advertising", "public_relations") else 0
            booking = Booking(
                kind=kind, title=f"{rng.choice(TITLES[kind])}: {client.name}",
                client_id=client.id, owner_id=client.owner_id,
                starts_at=starts_at, ends_at=starts_at + timedelta(hours=hours),
                timezone=client.timezone,
                location=(f"{client.name}, head office" if kind == "visit"
                          else f"https://meet.example.com/{client.id}-{n}"),
                agenda="Introductions; current setup; live walkthrough; questions; next steps.",
                status=status, needs_technical=needs_technical, needs_creative=needs_creative,
                travel_buffer_minutes=DEFAULT_BUFFER_MINUTES[kind],
                skills=rng.choice(["payments API", "German", "SSO", "Figma", ""]),
                cancel_reason="Client asked to postpone." if status == "cancelled" else "",
            )
            db.session.add(booking)
            db.session.flush()
            db.session.add(BookingChange(booking_id=booking.id, actor_id=client.owner_id,
                                         action="created", changes={}))
            if status == "cancelled":
                booking.sequence = 1
                db.session.add(BookingChange(booking_id=booking.id, actor_id=client.owner_id,
                                             action="cancelled",
                                             changes={"status": ["confirmed", "cancelled"]},
                                             note=booking.cancel_reason))
            # Staff most needs with someone free, so support staff see work and some
            # bookings stay short of staff; the demo never double-books anyone.
            for role, needed in (("technical", needs_technical), ("creative", needs_creative)):
                if not needed or (index + n) % 4 == 3:
                    continue
                pool = staff[role][(index + n) % len(staff[role]):] + \
                    staff[role][:(index + n) % len(staff[role])]
                clashes = find_clashes([p.id for p in pool], booking.busy_starts_at,
                                       booking.busy_ends_at)
                person = next((p for p in pool if not clashes[p.id]), None)
                if person is None:
                    continue
                db.session.add(Assignment(
                    booking_id=booking.id, user_id=person.id, role=role,
                    assigned_by_id=client.owner_id,
                    status="accepted" if past or n % 2 else "pending",
                    busy_starts_at=booking.busy_starts_at, busy_ends_at=booking.busy_ends_at))
                db.session.flush()
            created += 1
    return created
