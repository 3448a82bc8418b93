"""Feed throughput against a trivial route, served by gunicorn (2 workers) over loopback.

    .venv/bin/python bench/feeds.py                 # SQLite scratch file
    DATABASE_URL=postgresql://... .venv/bin/python bench/feeds.py   # an empty scratch DB

Seeds one AE with 500 bookings inside the feed window (plus colleagues and staff),
starts gunicorn, and drives it with wrk (Debian package `wrk`) for each endpoint:
the trivial route /livez, the full feed, the gzipped feed, and a 304 revalidation.
Prints requests per second, p50 and p95, and each throughput as a fraction of the
trivial route measured in the same run.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402

from aeplan import create_app  # noqa: E402
from aeplan.auth.models import User  # noqa: E402
from aeplan.bookings.models import Booking  # noqa: E402
from aeplan.calendar.service import feed_token, feed_url_path, key_from_config  # noqa: E402
from aeplan.clients.models import Client  # noqa: E402
from aeplan.config import with_psycopg  # noqa: E402
from aeplan.extensions import db  # noqa: E402
from aeplan.staffing.models import Assignment  # noqa: E402
from aeplan.timeutil import now_utc  # noqa: E402

SECRET = "bench-secret-key"
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "8"))


def seed(url: str) -> str:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        rng = random.Random(7)
        ae = User(email="ae@bench.test", name="Bench AE", role="ae", timezone="Europe/Berlin",
                  password_hash="x")
        staff = [User(email=f"s{i}@bench.test", name=f"Support {i}", role="support",
                      discipline="technical", timezone="Europe/Berlin", password_hash="x")
                 for i in range(20)]
        db.session.add_all([ae, *staff])
        db.session.flush()
        clients = [Client(name=f"Client {i}", industry="technology", tier="standard",
                          owner_id=ae.id, timezone="Europe/Berlin", cadence_days=30)
                   for i in range(40)]
        db.session.add_all(clients)
        db.session.flush()
        start = now_utc().replace(minute=0, second=0, microsecond=0) - timedelta(days=50)
        rows = []
        for i in range(500):
            at = start + timedelta(hours=rng.randrange(0, 24 * 400))
            rows.append(dict(uid=f"bench-{i}@aeplan", sequence=rng.randrange(3),
                             kind="visit" if i % 3 == 0 else "demo",
                             title=f"Roadmap review {i}", client_id=clients[i % 40].id,
                             owner_id=ae.id, starts_at=at, ends_at=at + timedelta(hours=2),
                             timezone="Europe/Berlin", location="Client office, Frankfurt",
                             agenda="Introductions; live walkthrough; questions; next steps. "
                                    * 4, status="confirmed", needs_technical=1,
                             needs_creative=0, needs_other=0, skills="", cancel_reason="",
                             travel_buffer_minutes=0, created_at=at, updated_at=at))
        db.session.execute(insert(Booking), rows)
        booking_ids = db.session.scalars(select(Booking.id)).all()
        db.session.execute(insert(Assignment), [
            dict(booking_id=b, user_id=staff[b % 20].id, role="technical", status="accepted",
                 note="", created_at=start, busy_starts_at=start, busy_ends_at=start)
            for b in booking_ids])
        token = feed_token(ae, key_from_config(app.config))
        db.session.commit()
        db.engine.dispose()
    return feed_url_path(token)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, headers: dict[str, str]) -> dict:
    args = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{DURATION}s", "--latency",
            "-s", str(ROOT / "bench" / "wrk_report.lua")]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    report["rps"] = report["requests"] / (report["duration_us"] / 1e6)
    if report["other_status"] or report["errors"]:
        print(f"  !! {url}: {report['other_status']} unexpected statuses, "
              f"{report['errors']} errors", flush=True)
    return report


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install wrk")
    url = os.environ.get("DATABASE_URL")
    url = with_psycopg(url) if url else \
        "sqlite:///" + tempfile.mkdtemp(prefix="aeplan-bench-") + "/bench.db"
    print("seeding 500 bookings ...", flush=True)
    path = seed(url)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=SECRET)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "warning", "app:app"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/livez", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        with urllib.request.urlopen(base + path) as response:  # builds and caches the feed
            etag = response.headers["ETag"]
            events = response.read().count(b"BEGIN:VEVENT")
        print(f"feed has {events} events; ETag {etag}", flush=True)
        runs = {
            "trivial route (/livez)": wrk(base + "/livez", {}),
            "feed, full (500 events)": wrk(base + path, {}),
            "feed, full, gzip": wrk(base + path, {"Accept-Encoding": "gzip"}),
            "feed, 304 (If-None-Match)": wrk(base + path, {"If-None-Match": etag}),
        }
    finally:
        server.terminate()
        server.wait(10)
    trivial = runs["trivial route (/livez)"]["rps"]
    print(f"\n{'endpoint':<28}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'vs trivial':>12}")
    for name, r in runs.items():
        bad = f"  ({r['errors']} errors, {r['non2xx']} non-2xx)" if r["errors"] or (
            r["non2xx"] and "304" not in name) else ""
        print(f"{name:<28}{r['rps']:>9.0f}{r['p50_us'] / 1000:>9.1f}{r['p95_us'] / 1000:>9.1f}"
              f"{'1/' + format(trivial / r['rps'], '.1f'):>12}{bad}")


if __name__ == "__main__":
    main()
