"""`make bench`: AE Plan under gunicorn (2 workers) with years of history, measured side
by side with a trivial route.

    .venv/bin/python bench/run.py                      # SQLite scratch file
    DATABASE_URL=postgresql://u:p@host/db .venv/bin/python bench/run.py   # empty scratch DB

It seeds 60 AEs, 240 support staff, 3,000 clients, 100,000 bookings over three years and
150,000 assignments, starts gunicorn, signs in as each role through the real login form
and drives every endpoint with wrk (Debian package `wrk`) over loopback. For each it
prints requests per second, p50, p95, SQL queries per request (from X-Query-Count) and
the throughput as a fraction of the trivial route /livez: each endpoint's load runs in
three rounds, each right after a run of /livez, and the median of the three ratios is
given, since this machine's speed drifts over minutes. The query counts are also
sampled with only 1,000 bookings, to show they do not grow. It writes
bench/results.json.
"""
from __future__ import annotations

import argparse
import html
import http.cookiejar
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import insert, select, text  # noqa: E402
from werkzeug.security import generate_password_hash  # noqa: E402

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
# Sessions are bound to the browser (Flask-Login's strong session protection), so wrk
# must send the same User-Agent as the client that signed in.
USER_AGENT = "aeplan-bench/1"
PASSWORD = "bench-password"
DISCIPLINES = ("technical", "creative", "other")
SKILLS = ["payments API", "German", "SSO", "Figma", "mobile SDK", "copywriting", "Kubernetes"]
ZONES = ["Europe/Berlin", "Europe/London", "America/New_York", "America/Chicago"]


def engine_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return with_psycopg(url)
    return "sqlite:///" + tempfile.mkdtemp(prefix="aeplan-bench-") + "/bench.db"


def seed(url: str, n_bookings: int, n_assignments: int) -> dict:
    """Bulk-load the organisation; returns what the load needs (ids, a feed path)."""
    rng = random.Random(2026)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET,
                      "AEPLAN_REQUEST_LOG": False})
    t0 = time.perf_counter()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        upgrade()
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        epoch = datetime(2024, 1, 1, tzinfo=UTC)
        users = [dict(email=f"ae{i}@bench.test", name=f"AE {i:02d}", role="ae",
                      timezone=ZONES[i % 4], password_hash=hashed, skills="", active=True,
                      created_at=epoch) for i in range(60)]
        users += [dict(email=f"s{i}@bench.test", name=f"Support {i:03d}", role="support",
                       discipline=DISCIPLINES[i % 3], timezone=ZONES[i % 4],
                       password_hash=hashed, skills=", ".join(rng.sample(SKILLS, 2)),
                       active=True, created_at=epoch) for i in range(240)]
        users += [dict(email="manager@bench.test", name="Manager", role="manager",
                       timezone="Europe/Berlin", password_hash=hashed, skills="", active=True,
                       created_at=epoch)]
        db.session.execute(insert(User), users)
        ae_ids = db.session.scalars(select(User.id).where(User.role == "ae")
                                    .order_by(User.id)).all()
        staff = db.session.execute(select(User.id, User.discipline)
                                   .where(User.role == "support").order_by(User.id)).all()
        db.session.execute(insert(Client), [
            dict(name=f"Client {i:04d}", industry=["advertising", "public_relations",
                                                   "financial_services", "technology"][i % 4],
                 tier="key" if i % 10 == 0 else "standard", owner_id=ae_ids[i % 60],
                 timezone=ZONES[i % 4], cadence_days=[14, 30, 60][i % 3],
                 gift_rules=i % 4 == 2, notes="", created_at=epoch) for i in range(3000)])
        clients = db.session.execute(select(Client.id, Client.owner_id, Client.timezone)
                                     .order_by(Client.id)).all()
        # Three years: two behind today, one ahead, on quarter hours of working days.
        start = now_utc().replace(minute=0, second=0, microsecond=0) - timedelta(days=730)
        rows, batch = [], 10000
        for i in range(n_bookings):
            client_id, owner_id, zone = clients[i % len(clients)]
            day = rng.randrange(3 * 365)
            at = start + timedelta(days=day, hours=rng.randrange(7, 17),
                                   minutes=15 * rng.randrange(4))
            kind = "visit" if i % 3 == 0 else "demo"
            status = "cancelled" if i % 17 == 0 else (
                "done" if at < now_utc() else rng.choice(["tentative", "confirmed"]))
            rows.append(dict(
                uid=f"bench-{i}@aeplan", sequence=0, kind=kind, title=f"Booking {i}",
                client_id=client_id, owner_id=owner_id, starts_at=at,
                ends_at=at + timedelta(hours=3 if kind == "visit" else 1), timezone=zone,
                location="Client office" if kind == "visit" else "https://meet.example.com/x",
                agenda="Introductions; walkthrough; questions.", status=status,
                needs_technical=1, needs_creative=1 if kind == "visit" else 0, needs_other=0,
                skills=rng.choice(SKILLS), travel_buffer_minutes=60 if kind == "visit" else 0,
                cancel_reason="", created_at=at - timedelta(days=14), updated_at=at))
            if len(rows) == batch:
                db.session.execute(insert(Booking), rows)
                rows = []
        if rows:
            db.session.execute(insert(Booking), rows)
        bookings = db.session.execute(select(Booking.id, Booking.starts_at, Booking.ends_at,
                                             Booking.travel_buffer_minutes)
                                      .order_by(Booking.id)).all()
        rows = []
        per_booking = max(1, round(n_assignments / max(n_bookings, 1)))
        made = 0
        for index, (booking_id, starts_at, ends_at, buffer) in enumerate(bookings):
            count = per_booking + (1 if index % 2 == 0 and made < n_assignments else 0)
            for person_id, discipline in rng.sample(staff, min(count, 2)):
                if made >= n_assignments:
                    break
                rows.append(dict(
                    booking_id=booking_id, user_id=person_id, role=discipline,
                    status=rng.choice(["accepted", "accepted", "pending", "declined"]),
                    note="", created_at=starts_at - timedelta(days=7),
                    busy_starts_at=starts_at - timedelta(minutes=buffer),
                    busy_ends_at=ends_at + timedelta(minutes=buffer)))
                made += 1
            if len(rows) >= batch:
                db.session.execute(insert(Assignment), rows)
                rows = []
        if rows:
            db.session.execute(insert(Assignment), rows)
        db.session.commit()
        # Statistics for the planner and, on PostgreSQL, the visibility map that lets it
        # answer from an index alone: what autovacuum gives a database in service.
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        else:
            db.session.execute(text("ANALYZE"))
            db.session.commit()
        seconds = time.perf_counter() - t0

        # What the load uses: an AE with a busy week, one of their future bookings,
        # a support person with assignments, and a feed.
        ae = db.session.get(User, ae_ids[0])
        upcoming = db.session.scalar(
            select(Booking).where(Booking.owner_id == ae.id, Booking.status != "cancelled",
                                  Booking.starts_at > now_utc()).order_by(Booking.starts_at))
        busy = db.session.execute(
            select(Assignment.user_id, Booking.starts_at)
            .join(Booking, Booking.id == Assignment.booking_id)
            .where(Booking.owner_id == ae.id, Booking.id != upcoming.id,
                   Booking.status != "cancelled", Assignment.status != "declined",
                   Booking.starts_at > now_utc())
            .order_by(Booking.starts_at)).first()
        # Move the AE's booking onto the busy person's time, so assigning them clashes.
        clash_booking = db.session.scalar(
            select(Booking).where(Booking.owner_id == ae.id, Booking.starts_at > now_utc(),
                                  Booking.status != "cancelled", Booking.id != upcoming.id)
            .order_by(Booking.starts_at.desc()))
        clash_booking.starts_at, clash_booking.ends_at = busy.starts_at, \
            busy.starts_at + timedelta(hours=1)
        # Short of technical and creative staff at any size (seeded bookings have at most
        # two people), so its page ranks suggestions for both.
        clash_booking.needs_technical, clash_booking.needs_creative = 3, 2
        support_email = db.session.scalar(
            select(User.email).join(Assignment, Assignment.user_id == User.id)
            .group_by(User.email).order_by(User.email))
        feed = feed_url_path(feed_token(ae, key_from_config(app.config)))
        week = upcoming.starts_at.date().isoformat()
        info = dict(seed_seconds=round(seconds, 1), ae_email=ae.email, feed=feed, week=week,
                    booking=upcoming.id, client=upcoming.client_id,
                    clash_booking=clash_booking.id, busy_person=busy.user_id,
                    support_email=support_email, bookings=n_bookings,
                    assignments=db.session.scalar(select(text("count(*)"))
                                                  .select_from(Assignment)))
        db.session.commit()
        db.engine.dispose()
    return info


class Session:
    """A signed-in browser: cookies plus the CSRF token, through the real login form."""

    def __init__(self, base: str, email: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect)
        self.opener.addheaders = [("User-Agent", USER_AGENT)]
        self.token = self._token(self.get("/login")[2])
        status, _, _ = self.post("/login", {"email": email, "password": PASSWORD})
        if status != 303:
            raise SystemExit(f"could not sign in as {email}: HTTP {status}")
        self.token = self._token(self.get("/profile")[2]) or self.token

    @staticmethod
    def _token(body: str) -> str:
        found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', body)
        return found.group(1) if found else ""

    def _open(self, request):
        try:
            with self.opener.open(request, timeout=60) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def get(self, path: str, headers: dict | None = None):
        return self._open(urllib.request.Request(self.base + path, headers=headers or {}))

    def post(self, path: str, fields: dict):
        data = urllib.parse.urlencode({**fields, "csrf_token": self.token}).encode()
        return self._open(urllib.request.Request(self.base + path, data=data))

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=SECRET, AEPLAN_REQUEST_LOG="0",
               AEPLAN_QUERY_COUNT_HEADER="1", AEPLAN_BIND=f"127.0.0.1:{port}",
               WEB_CONCURRENCY="2")
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "app:app"], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(base + "/livez", timeout=1).read()
            return server, base
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("gunicorn did not start: " + server.stderr.read().decode()[-2000:])


def follow_pages(session: Session, path: str, pages: int) -> str:
    """The URL of page `pages` of a list (or of its last page, if it is shorter), reached
    as a person would: by following its Later link."""
    for _ in range(pages - 1):
        status, _, body = session.get(path)
        if status != 200:
            raise SystemExit(f"HTTP {status} from {path}")
        found = re.search(r'<a href="([^"]+)" rel="next"', body)
        if not found:
            break
        path = html.unescape(found.group(1))
    return path


def endpoints(info: dict, sessions: dict) -> list[dict]:
    ae, support, manager = sessions["ae"], sessions["support"], sessions["manager"]
    deep = follow_pages(manager, "/bookings/?from=2024-01-01", 200)
    _, headers, _ = ae.get(info["feed"])
    etag = headers.get("ETag", "")
    return [
        dict(name="trivial route (/livez)", path="/livez", session=None),
        dict(name="week calendar (AE)", path=f"/calendar?date={info['week']}", session=ae),
        dict(name="bookings list, filtered (manager)",
             path="/bookings/?from=2025-01-01&kind=visit", session=manager),
        dict(name="bookings list, page 200 (manager)",
             path=deep, session=manager),
        dict(name="client page (AE)", path=f"/clients/{info['client']}", session=ae),
        dict(name="my assignments (support)", path="/assignments/", session=support),
        dict(name="staffing suggestions (AE)",
             path=f"/bookings/{info['booking']}/staff?role=technical", session=ae),
        dict(name="booking page (AE)", path=f"/bookings/{info['clash_booking']}", session=ae),
        dict(name="feed 200", path=info["feed"], session=None),
        dict(name="feed 304", path=info["feed"], session=None,
             headers={"If-None-Match": etag}),
        dict(name="assign: conflict check (AE)",
             path=f"/bookings/{info['clash_booking']}/assignments", session=ae, method="POST",
             body=urllib.parse.urlencode({"user_id": info["busy_person"], "role": "technical",
                                          "csrf_token": ae.token})),
    ]


def sample(endpoint: dict) -> tuple[int, int]:
    """One request: (status, SQL statements it ran)."""
    session = endpoint["session"]
    opener = session or Session.__new__(Session)
    if session is None:
        opener.base = endpoint["base"]
        opener.opener = urllib.request.build_opener(_NoRedirect)
        opener.opener.addheaders = [("User-Agent", USER_AGENT)]
    if endpoint.get("method") == "POST":
        fields = dict(urllib.parse.parse_qsl(endpoint["body"]))
        fields.pop("csrf_token", None)
        status, headers, _ = session.post(endpoint["path"], fields)
    else:
        status, headers, _ = opener.get(endpoint["path"], endpoint.get("headers"))
    return status, int(headers.get("X-Query-Count", -1))


def wrk(base: str, endpoint: dict, seconds: int, connections: int) -> dict:
    script = Path(tempfile.mkdtemp()) / "run.lua"
    method = endpoint.get("method", "GET")
    body = endpoint.get("body", "")
    lua = (ROOT / "bench" / "wrk_report.lua").read_text()
    if method == "POST":
        lua = (f'wrk.method = "POST"\nwrk.body = "{body}"\n'
               'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n') + lua
    script.write_text(lua)
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
            "-s", str(script)]
    headers = {"User-Agent": USER_AGENT, **endpoint.get("headers", {})}
    if endpoint["session"] is not None:
        headers["Cookie"] = endpoint["session"].cookie_header()
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [base + endpoint["path"]], capture_output=True, text=True,
                         check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    report["rps"] = report["requests"] / (report["duration_us"] / 1e6)
    report["status_seen"] = report.pop("status")
    return report


ROUNDS = 3


def interleaved(base: str, trivial: dict, endpoint: dict, seconds: int,
                connections: int) -> dict:
    """The endpoint's load, split into ROUNDS runs each right after a run of the trivial
    route, so that each ratio compares two runs a few seconds apart: this machine's
    speed drifts by a fifth over minutes. Returns the totals, the median of the rounds'
    p50, the worst round's p95 and the median of the rounds' ratios."""
    share = max(1, round(seconds / ROUNDS))
    rounds = []
    for _ in range(ROUNDS):
        reference = wrk(base, trivial, share, connections)
        measured = wrk(base, endpoint, share, connections)
        rounds.append((reference, measured))
    ratios = sorted(ref["rps"] / got["rps"] for ref, got in rounds)
    runs = [got for _, got in rounds]
    requests = sum(r["requests"] for r in runs)
    duration = sum(r["duration_us"] for r in runs)
    return dict(requests=requests, duration_us=duration, rps=requests / (duration / 1e6),
                p50_us=sorted(r["p50_us"] for r in runs)[ROUNDS // 2],
                p95_us=max(r["p95_us"] for r in runs),
                errors=sum(r["errors"] for r in runs),
                other_status=sum(r["other_status"] for r in runs),
                status_seen=runs[0]["status_seen"],
                vs_trivial=ratios[ROUNDS // 2],
                rounds=[dict(trivial_rps=ref["rps"], rps=got["rps"]) for ref, got in rounds])


def worker_rss_mb(server: subprocess.Popen) -> list[float]:
    out = subprocess.run(["ps", "-o", "pid=,rss=", "--ppid", str(server.pid)],
                         capture_output=True, text=True).stdout
    return [round(int(line.split()[1]) / 1024, 1) for line in out.strip().splitlines()]


def measure(url: str, size: int, assignments: int, *, load: bool, seconds: int,
            connections: int) -> dict:
    print(f"seeding {size:,} bookings and {assignments:,} assignments ...", flush=True)
    info = seed(url, size, assignments)
    print(f"  seeded in {info['seed_seconds']} s", flush=True)
    server, base = start_server(url)
    try:
        sessions = {role: Session(base, email) for role, email in (
            ("ae", info["ae_email"]), ("support", info["support_email"]),
            ("manager", "manager@bench.test"))}
        results = []
        listed = endpoints(info, sessions)
        trivial = listed[0]
        for endpoint in listed:
            endpoint["base"] = base
            # Both workers warmed: each keeps some sums per worker (staff week loads)
            # until the data changes, and the first use in a worker runs one query more.
            # Reported: the count most samples ran.
            samples = [sample(endpoint) for _ in range(6)]
            status = samples[-1][0]
            counts = [q for _, q in samples]
            queries = max(set(counts), key=lambda q: (counts.count(q), -q))
            row = dict(name=endpoint["name"], status=status, queries=queries)
            if load:
                print(f"  {endpoint['name']} ...", flush=True)
                row.update(interleaved(base, trivial, endpoint, seconds, connections))
            results.append(row)
        rss = worker_rss_mb(server)
    finally:
        server.terminate()
        server.wait(15)
        if url.startswith("sqlite:///"):
            shutil.rmtree(Path(url.removeprefix("sqlite:///")).parent, ignore_errors=True)
    return dict(info=info, results=results, worker_rss_mb=rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", 10)))
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument("--assignments", type=int, default=150_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: install Debian's wrk package (apt-get install wrk)")
    small = measure(engine_url(), 1000, 1500, load=False, seconds=0, connections=0)
    big = measure(engine_url(), args.bookings, args.assignments, load=True,
                  seconds=args.seconds, connections=args.connections)
    small_queries = {r["name"]: r["queries"] for r in small["results"]}
    dialect = "postgresql" if os.environ.get("DATABASE_URL") else "sqlite"
    print(f"\nAE Plan on {dialect}, gunicorn 2 workers, {args.bookings:,} bookings, "
          f"{big['info']['assignments']:,} assignments (seeded in "
          f"{big['info']['seed_seconds']} s); {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores")
    header = (f"{'endpoint':<36}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'vs trivial':>11}"
              f"{'SQL/req':>9}{'@1k':>6}")
    print(header)
    print("-" * len(header))
    for r in big["results"]:
        warn = ""
        if r["status"] != r.get("status_seen", r["status"]) or r["other_status"] or r["errors"]:
            warn = (f"  !! wrk saw HTTP {r['status_seen']}, {r['other_status']} other statuses,"
                    f" {r['errors']} errors")
        print(f"{r['name']:<36}{r['rps']:>8.0f}{r['p50_us'] / 1000:>8.1f}"
              f"{r['p95_us'] / 1000:>8.1f}{'1/' + format(r['vs_trivial'], '.1f'):>11}"
              f"{r['queries']:>9}{small_queries.get(r['name'], -1):>6}{warn}")
    print(f"worker resident memory: {', '.join(f'{m} MB' for m in big['worker_rss_mb'])}")
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(dict(database=dialect, small=small, big=big,
                                   machine=dict(cores=os.cpu_count(),
                                                platform=platform.platform())),
                              indent=2, default=str))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
