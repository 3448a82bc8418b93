"""Two requests racing to assign one person to overlapping bookings, in two gunicorn
workers against the real database: exactly one wins, the other gets a clear 409."""
from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from aeplan.extensions import db
from aeplan.staffing.models import Assignment
from tests.conftest import PASSWORD, T0

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_gunicorn(app, *, workers: int = 2, **env_vars: str):
    """gunicorn as deployed (gunicorn.conf.py) on a free port, on the test's database, with
    `env_vars` added to its environment; yields its base URL and stops it afterwards."""
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SECRET_KEY="gunicorn-test", **env_vars)
    env.pop("FLASK_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:app"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("gunicorn did not start: " + proc.stdout.read().decode()[-2000:])
        time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


@pytest.fixture
def gunicorn(app):
    with serve_gunicorn(app) as base:
        yield base


class Browser:
    """A cookie-keeping HTTP client that signs in through the real form with CSRF."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect,
        )
        self.token = ""

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.base + path, timeout=30) as response:
                body = response.read().decode()
                status = response.status
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', body) or \
            re.search(r'name="csrf_token" value="([^"]+)"', body)
        if found:
            self.token = found.group(1)
        return status, body

    def post(self, path: str, fields: dict) -> tuple[int, str]:
        data = urllib.parse.urlencode({**fields, "csrf_token": self.token}).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_in(self, email: str) -> None:
        self.get("/login")
        status, _ = self.post("/login", {"email": email, "password": PASSWORD})
        assert status == 303, f"sign-in failed with {status}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

    def http_error_303(self, req, fp, code, msg, headers):
        return fp

    http_error_302 = http_error_303


def test_racing_assignments_end_with_exactly_one(gunicorn, make_user, make_client,
                                                 make_booking):
    ae = make_user("ae")
    manager = make_user("manager")
    client = make_client(owner=ae)
    rounds = 8
    people, pairs = [], []
    for n in range(rounds):
        person = make_user("support", discipline="technical")
        start = T0 + timedelta(days=n)
        first = make_booking(client, starts_at=start, ends_at=start + timedelta(hours=2))
        second = make_booking(client, starts_at=start + timedelta(hours=1),
                              ends_at=start + timedelta(hours=3))
        people.append(person)
        pairs.append((first.id, second.id))

    # Two people signed in in separate sessions, as two browsers would be.
    browsers = [Browser(gunicorn), Browser(gunicorn)]
    browsers[0].sign_in(ae.email)
    browsers[1].sign_in(manager.email)
    for b in browsers:
        b.get(f"/bookings/{pairs[0][0]}")

    outcomes = []
    for person, (first_id, second_id) in zip(people, pairs, strict=True):
        barrier = threading.Barrier(2)
        results: list = [None, None]

        def race(i, booking_id, person_id=person.id, barrier=barrier, results=results):
            barrier.wait()
            results[i] = browsers[i].post(f"/bookings/{booking_id}/assignments",
                                          {"user_id": person_id, "role": "technical"})

        threads = [threading.Thread(target=race, args=(0, first_id)),
                   threading.Thread(target=race, args=(1, second_id))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        outcomes.append(results)

    db.session.rollback()  # end this session's read snapshot; see what the workers wrote
    for person, results in zip(people, outcomes, strict=True):
        statuses = sorted(status for status, _body in results)
        assert statuses == [303, 409], statuses
        refused = next(body for status, body in results if status == 409)
        assert "is not free then" in refused and person.name in refused
        active = db.session.scalar(
            select(func.count()).select_from(Assignment)
            .where(Assignment.user_id == person.id, Assignment.removed_at.is_(None))
        )
        assert active == 1
