"""Time one conflict check and one suggestion list with a small and a large history.

    .venv/bin/python bench/staffing.py            # SQLite scratch files under /tmp
    DATABASE_URL=postgresql://... .venv/bin/python bench/staffing.py   # an empty scratch DB

Both sizes hold the same 100 bookings in the measured week (WEEK); the larger one adds
99,900 more over the three years before it, with one or two of 240 people on each.
It times `find_clashes` for one person and `suggestions` for one booking in that week
(median of repeated runs): the times should not grow with the size of the history.
"""
from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from aeplan import create_app  # noqa: E402
from aeplan.auth.models import User  # noqa: E402
from aeplan.bookings.models import Booking  # noqa: E402
from aeplan.clients.models import Client  # noqa: E402
from aeplan.config import with_psycopg  # noqa: E402
from aeplan.extensions import db  # noqa: E402
from aeplan.staffing import service  # noqa: E402
from aeplan.staffing.models import Assignment  # noqa: E402

START = datetime(2024, 1, 1, tzinfo=UTC)
WEEK = datetime(2027, 2, 1, tzinfo=UTC)  # a Monday a month after the history ends
IN_WEEK = 100
STAFF = 240
AES = 60


def seed(n_bookings: int, rng: random.Random) -> None:
    users = [dict(email=f"ae{i}@bench.test", name=f"AE {i}", role="ae", timezone="UTC",
                  password_hash="x", skills="", active=True,
                  created_at=START) for i in range(AES)]
    disciplines = ["technical", "creative", "other"]
    users += [dict(email=f"s{i}@bench.test", name=f"Support {i}", role="support",
                   discipline=disciplines[i % 3], timezone="UTC", password_hash="x",
                   skills=", ".join(rng.sample(["payments API", "German", "SSO", "Figma",
                                                "mobile SDK", "copywriting"], 2)),
                   active=True, created_at=START) for i in range(STAFF)]
    db.session.execute(insert(User), users)
    ae_ids = db.session.scalars(select(User.id).where(User.role == "ae")).all()
    staff_ids = db.session.scalars(select(User.id).where(User.role == "support")).all()
    clients = [dict(name=f"Client {i}", industry="technology", tier="standard",
                    owner_id=ae_ids[i % AES], timezone="UTC", cadence_days=30,
                    gift_rules=False, notes="", created_at=START) for i in range(3000)]
    db.session.execute(insert(Client), clients)
    client_rows = db.session.execute(select(Client.id, Client.owner_id)).all()
    span = 3 * 365 * 24 * 4  # quarter hours in three years
    batch = []
    for i in range(n_bookings):
        client_id, owner_id = client_rows[i % len(client_rows)]
        if i < IN_WEEK:  # the same week, the same way, at every size
            start = WEEK + timedelta(minutes=15 * random.Random(i).randrange(5 * 24 * 4))
        else:
            start = START + timedelta(minutes=15 * rng.randrange(span))
        kind = "visit" if i % 3 == 0 else "demo"
        batch.append(dict(uid=f"b{i}@bench", sequence=0, kind=kind, title=f"Booking {i}",
                          client_id=client_id, owner_id=owner_id, starts_at=start,
                          ends_at=start + timedelta(hours=rng.choice([1, 2, 3])),
                          timezone="UTC", location="", agenda="", status="confirmed",
                          needs_technical=1, needs_creative=i % 2, needs_other=0,
                          skills="payments API", travel_buffer_minutes=60 if kind == "visit"
                          else 0, cancel_reason="", created_at=START, updated_at=START))
        if len(batch) == 5000 or i == n_bookings - 1:
            db.session.execute(insert(Booking), batch)
            batch = []
    rows = db.session.execute(select(Booking.id, Booking.starts_at, Booking.ends_at,
                                     Booking.travel_buffer_minutes)).all()
    assignments = []
    for booking_id, starts_at, ends_at, buffer in rows:
        pick = random.Random(booking_id) if booking_id <= IN_WEEK else rng
        for person in pick.sample(staff_ids, 1 if booking_id % 2 else 2):
            assignments.append(dict(
                booking_id=booking_id, user_id=person, role="technical", status="accepted",
                note="", created_at=START, busy_starts_at=starts_at - timedelta(minutes=buffer),
                busy_ends_at=ends_at + timedelta(minutes=buffer)))
        if len(assignments) >= 5000:
            db.session.execute(insert(Assignment), assignments)
            assignments = []
    if assignments:
        db.session.execute(insert(Assignment), assignments)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()


def timed(fn, repeat: int = 200) -> float:
    fn()  # warm up
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
        db.session.rollback()
    return statistics.median(samples) * 1000


def run(size: int, url: str) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        t0 = time.perf_counter()
        seed(size, random.Random(size))
        seeded = time.perf_counter() - t0
        rng = random.Random(1)
        person = db.session.scalar(select(User).where(User.role == "support").limit(1))
        manager = User(email="m@bench.test", name="Manager", role="manager", timezone="UTC",
                       password_hash="x")
        db.session.add(manager)
        db.session.commit()
        booking = db.session.scalar(select(Booking).where(Booking.title == "Booking 50"))
        at = WEEK + timedelta(days=2, hours=rng.randrange(8, 16))
        check = timed(lambda: service.find_clashes([person.id], at, at + timedelta(hours=2)))
        suggest = timed(lambda: service.suggestions(booking, "technical", viewer=manager),
                        repeat=50)
        db.engine.dispose()
    return {"bookings": size, "seed_s": seeded, "conflict_check_ms": check,
            "suggestions_ms": suggest}


def main() -> None:
    results = []
    for size in (100, 100_000):
        url = os.environ.get("DATABASE_URL")
        if url:
            url = with_psycopg(url)
        else:
            url = "sqlite:///" + tempfile.mkdtemp(prefix="aeplan-bench-") + "/bench.db"
        print(f"seeding {size:,} bookings ...", flush=True)
        results.append(run(size, url))
    print(f"\n{'bookings':>10} {'conflict check':>16} {'suggestions (80 people)':>24}")
    for r in results:
        print(f"{r['bookings']:>10,} {r['conflict_check_ms']:>13.2f} ms "
              f"{r['suggestions_ms']:>21.2f} ms")


if __name__ == "__main__":
    main()
