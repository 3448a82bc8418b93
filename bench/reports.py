"""Coverage and report pages with 3,000 clients and 100,000 bookings, in process.

    .venv/bin/python bench/reports.py                 # SQLite scratch file
    DATABASE_URL=postgresql://... .venv/bin/python bench/reports.py   # an empty scratch DB

Seeds 60 AEs, 40 support staff and a manager; 3,000 clients; 100,000 bookings over the
last eighteen months and the next six (most past ones done, a tenth cancelled), with
support staff on most; trips grouping an AE's visits, each with a hotel split by hours,
a flight for one client and meals split evenly, in EUR, USD and GBP, and a traveller.
All with bulk inserts. Then signs in as the manager with Flask's test client and times
each page and CSV (the median of BENCH_RUNS runs after a warm-up), with its SQL query
count, against the trivial route /livez measured in the same run.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import event, func, insert, select, text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

from aeplan import create_app  # noqa: E402
from aeplan.auth.models import User  # noqa: E402
from aeplan.bookings.models import Booking  # noqa: E402
from aeplan.clients.models import INDUSTRIES, Client  # noqa: E402
from aeplan.extensions import db  # noqa: E402
from aeplan.staffing.models import Assignment  # noqa: E402
from aeplan.timeutil import now_utc  # noqa: E402
from aeplan.trips.models import Expense, Trip, trip_travellers  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_CLIENTS", "3000"))
BOOKINGS = int(os.environ.get("BENCH_BOOKINGS", "100000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
AES, SUPPORT = 60, 40
PASSWORD = "bench-password"
ZONES = ["Europe/Berlin", "Europe/London", "America/New_York"]
PAGES = [
    "/reports/coverage", "/reports/coverage.csv", "/reports/coverage?overdue=1",
    "/reports/clients", "/reports/clients.csv",
    "/reports/aes", "/reports/aes.csv",
    "/reports/staff", "/reports/staff.csv",
]


def chunks(rows: list[dict], size: int = 5000):
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def bulk(model_or_table, rows: list[dict]) -> None:
    table = getattr(model_or_table, "__table__", model_or_table)
    for part in chunks(rows):
        db.session.execute(insert(table), part)


def seed(app) -> None:
    rng = random.Random(2026)
    now = now_utc().replace(minute=0, second=0, microsecond=0)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        people = [dict(id=1, email="manager@bench.test", name="Bench Manager", role="manager",
                       timezone="Europe/Berlin")]
        people += [dict(id=100 + i, email=f"ae{i}@bench.test", name=f"AE {i:02d}", role="ae",
                        timezone=ZONES[i % 3]) for i in range(AES)]
        people += [dict(id=1000 + i, email=f"s{i}@bench.test", name=f"Support {i:02d}",
                        role="support", discipline=("technical", "creative", "other")[i % 3],
                        timezone=ZONES[i % 3]) for i in range(SUPPORT)]
        for p in people:
            p.update(password_hash=cheap, skills="", active=True, created_at=now,
                     discipline=p.get("discipline"))
        bulk(User, people)
        clients = [dict(id=i + 1, name=f"Client {i:04d}", industry=INDUSTRIES[i % 6],
                        tier="key" if i % 10 == 0 else "standard", owner_id=100 + i % AES,
                        timezone=ZONES[i % 3], cadence_days=(14, 30, 45, 60, 90)[i % 5],
                        gift_rules=False, notes="",
                        created_at=now - timedelta(days=rng.randrange(30, 900)))
                   for i in range(CLIENTS)]
        bulk(Client, clients)

        start = now - timedelta(days=540)
        span_hours = 24 * (540 + 180)
        plans = []
        for i in range(BOOKINGS):
            client = clients[rng.randrange(CLIENTS)]
            at = start + timedelta(hours=rng.randrange(span_hours))
            at = at.replace(hour=7 + at.hour % 10)
            kind = "visit" if rng.random() < 0.35 else "demo"
            if rng.random() < 0.1:
                status = "cancelled"
            elif at < now:
                status = "done" if rng.random() < 0.9 else "confirmed"
            else:
                status = rng.choice(["tentative", "confirmed"])
            plans.append(dict(id=i + 1, uid=f"bench-{i}@aeplan", sequence=0, kind=kind,
                              title=f"Bench {kind} {i}", client_id=client["id"],
                              owner_id=client["owner_id"], starts_at=at,
                              ends_at=at + timedelta(hours=rng.choice((1, 2, 3))),
                              timezone=client["timezone"], location="", agenda="",
                              status=status, needs_technical=1, needs_creative=0,
                              needs_other=0, skills="", travel_buffer_minutes=0,
                              trip_id=None, cancel_reason="", created_at=now,
                              updated_at=now))

        # Trips: a quarter of each AE's visits start one; the AE's next visit within two
        # days joins it.
        trips, expenses, travellers = [], [], []
        visits = sorted((b for b in plans if b["kind"] == "visit" and b["status"] != "cancelled"),
                        key=lambda b: (b["owner_id"], b["starts_at"]))
        current = None
        for b in visits:
            if current and current["owner_id"] == b["owner_id"] and \
                    b["starts_at"].date() <= current["ends_on"]:
                b["trip_id"] = current["id"]
                continue
            current = None
            if rng.random() < 0.25:
                first = b["starts_at"].date() - timedelta(days=1)
                current = dict(id=len(trips) + 1, owner_id=b["owner_id"],
                               title=f"Trip {len(trips)}", destination="Somewhere",
                               timezone="Europe/Berlin", starts_on=first,
                               ends_on=first + timedelta(days=3), notes="", created_at=now,
                               updated_at=now, cancelled_at=None)
                trips.append(current)
                b["trip_id"] = current["id"]
                for category, currency, allocation, amount in (
                        ("hotel", "EUR", "hours", rng.randrange(8000, 60000)),
                        ("flight", "USD", "client", rng.randrange(15000, 120000)),
                        ("meals", "GBP", "even", rng.randrange(1000, 9000))):
                    expenses.append(dict(trip_id=current["id"], category=category,
                                         amount_minor=amount, currency=currency,
                                         spent_on=first, note="", allocation=allocation,
                                         client_id=b["client_id"] if allocation == "client"
                                         else None, created_by_id=b["owner_id"],
                                         created_at=now, removed_at=None))
                travellers.append(dict(trip_id=current["id"],
                                       user_id=1000 + rng.randrange(SUPPORT)))
        bulk(Trip, trips)
        bulk(Booking, plans)
        bulk(Expense, expenses)
        bulk(trip_travellers, travellers)
        bulk(Assignment, [
            dict(booking_id=b["id"], user_id=1000 + rng.randrange(SUPPORT), role="technical",
                 status=rng.choice(("accepted", "accepted", "pending", "declined")), note="",
                 created_at=now, busy_starts_at=b["starts_at"], busy_ends_at=b["ends_at"])
            for b in plans if rng.random() < 0.6])
        if db.engine.dialect.name == "postgresql":
            for table in ("users", "clients", "bookings", "trips"):
                db.session.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"))
            db.session.execute(text("ANALYZE"))
        else:
            db.session.execute(text("ANALYZE"))
        db.session.commit()
        counts = {name: db.session.scalar(select(func.count()).select_from(model))
                  for name, model in (("clients", Client), ("bookings", Booking),
                                      ("trips", Trip), ("expenses", Expense),
                                      ("assignments", Assignment))}
        print("seeded " + ", ".join(f"{n:,} {name}" for name, n in counts.items()), flush=True)


def timed(client, engine, url: str, runs: int) -> tuple[list[float], int, int]:
    """Run times in ms, the response size and the SQL statements of the last run. Each
    request runs in its own app context and database session, as in production."""
    statements = []

    def count(*_args):
        statements.append(1)

    response = client.get(url)  # warm up
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(runs):
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        began = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - began) * 1000)
        event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200, (url, response.status_code)
    return times, len(response.get_data()), len(statements)


def main() -> None:
    url = os.environ.get("DATABASE_URL")
    url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url else \
        "sqlite:///" + tempfile.mkdtemp(prefix="aeplan-bench-") + "/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "WTF_CSRF_ENABLED": False})
    print(f"seeding {CLIENTS:,} clients and {BOOKINGS:,} bookings on "
          f"{url.split(':')[0]} ...", flush=True)
    began = time.perf_counter()
    seed(app)
    print(f"seeded in {time.perf_counter() - began:.0f} s", flush=True)
    with app.app_context():
        engine = db.engine
    client = app.test_client()
    response = client.post("/login", data={"email": "manager@bench.test", "password": PASSWORD})
    assert response.status_code == 303, response.status_code
    livez, _size, _n = timed(client, engine, "/livez", max(RUNS * 20, 100))
    trivial = statistics.median(livez)
    results = [("/livez (trivial)", livez, 0, 0)]
    for page in PAGES:
        times, size, queries = timed(client, engine, page, RUNS)
        results.append((page, times, size, queries))
        print(f"  {page}: {statistics.median(times):.0f} ms", flush=True)
    engine.dispose()
    print(f"\n{CLIENTS:,} clients, {BOOKINGS:,} bookings; median of {RUNS} runs "
          f"(/livez: {len(livez)}), manager signed in, period: this quarter "
          f"({date.today():%Y-%m-%d} is today)")
    print(f"{'page':<32}{'median ms':>11}{'min ms':>9}{'queries':>9}{'KiB':>8}{'vs /livez':>11}")
    for page, times, size, queries in results:
        median = statistics.median(times)
        print(f"{page:<32}{median:>11.1f}{min(times):>9.1f}{queries:>9}{size / 1024:>8.0f}"
              f"{median / trivial:>10.0f}×")


if __name__ == "__main__":
    main()
