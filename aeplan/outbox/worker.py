"""The outbox worker: claims due messages, sends them, records what happened.

Claiming: one short write transaction marks up to a batch of due rows `sending`, counts
the attempt and sets a lease (when the row is due again if this worker vanishes). On
PostgreSQL the rows are picked with SELECT ... FOR UPDATE SKIP LOCKED, so workers on
several machines take disjoint rows without waiting on each other; on SQLite the
transaction is BEGIN IMMEDIATE (aeplan.transactions.begin_write), one claimer at a time.
No transaction is open while the network is used.

Across a crash we err on the side of AT-LEAST-ONCE: a worker that dies after the server
took a message but before it recorded `sent` leaves the row `sending`; once the lease
runs out, another worker sends it again. A calendar invitation sent twice carries the
same UID and SEQUENCE, and calendar apps apply it once; an invitation never sent is a
person who does not know where to be. A row whose lease runs out after its last
allowed attempt is marked failed instead ("may have been sent").

Retries: a temporary failure (no connection, a 4xx answer, a timeout) is tried again
after AEPLAN_OUTBOX_RETRY_SECONDS, doubling each time up to
AEPLAN_OUTBOX_RETRY_MAX_SECONDS; after AEPLAN_OUTBOX_MAX_ATTEMPTS tries, or at once for
a permanent refusal (a 5xx for the message or its recipient), the row is failed.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.exc import SQLAlchemyError

from aeplan.extensions import db
from aeplan.outbox.models import ERROR_LENGTH, FAILED, OPEN, QUEUED, SENDING, SENT
from aeplan.outbox.models import OutboxMessage as Row
from aeplan.outbox.smtp import Connection, SendError
from aeplan.timeutil import now_utc
from aeplan.transactions import begin_write

log = logging.getLogger("aeplan.mail")
LEASE_MARGIN = timedelta(seconds=30)
CRASHED = "the worker stopped while sending it; it may have been sent"


@dataclass(frozen=True)
class Claimed:
    id: int
    attempts: int
    sender: str
    recipient: str
    message: bytes


@dataclass
class Tally:
    sent: int = 0
    retry: int = 0
    failed: int = 0

    def add(self, other: Tally) -> None:
        self.sent, self.retry, self.failed = (self.sent + other.sent, self.retry + other.retry,
                                              self.failed + other.failed)

    def __bool__(self) -> bool:
        return bool(self.sent or self.retry or self.failed)

    def __str__(self) -> str:
        return f"sent {self.sent}, retry {self.retry}, failed {self.failed}"


def _setting(config, name: str, default: float) -> float:
    value = config.get(name)
    return default if value is None or value == "" else float(value)


def backoff(attempts: int, config) -> timedelta:
    """The wait after the `attempts`-th failed try: doubling, capped."""
    first = _setting(config, "AEPLAN_OUTBOX_RETRY_SECONDS", 60)
    most = _setting(config, "AEPLAN_OUTBOX_RETRY_MAX_SECONDS", 3600)
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), most))


def claim(config, *, now: datetime | None = None) -> list[Claimed]:
    """Take up to a batch of due rows for this worker (see the module's docstring)."""
    now = now or now_utc()
    batch = int(_setting(config, "AEPLAN_OUTBOX_BATCH", 20))
    deadline = timedelta(seconds=_setting(config, "MAIL_DEADLINE", 60))
    most = int(_setting(config, "AEPLAN_OUTBOX_MAX_ATTEMPTS", 8))
    begin_write()
    try:
        # Rows whose last allowed attempt was cut short by a vanished worker. Skipping
        # locked rows here too: two workers never wait on each other in a cycle.
        crashed = (select(Row.id).where(Row.status == SENDING, Row.next_attempt_at <= now,
                                        Row.attempts >= most)
                   .with_for_update(skip_locked=True))
        db.session.execute(
            update(Row).where(Row.id.in_(crashed.scalar_subquery()))
            .values(status=FAILED, last_error=CRASHED, next_attempt_at=now))
        ids = db.session.scalars(
            select(Row.id).where(Row.status.in_(OPEN), Row.next_attempt_at <= now)
            .order_by(Row.next_attempt_at, Row.id).limit(batch)
            .with_for_update(skip_locked=True)).all()
        if not ids:
            db.session.commit()
            return []
        # Messages go one after another, each within the deadline (after a connection
        # step that has its own): the n-th is done by now + (n + 1) deadlines.
        leases = {row_id: now + deadline * (n + 2) + LEASE_MARGIN
                  for n, row_id in enumerate(ids)}
        db.session.execute(
            update(Row).where(Row.id.in_(ids))
            .values(status=SENDING, attempts=Row.attempts + 1,
                    next_attempt_at=case(leases, value=Row.id)))
        rows = db.session.execute(
            select(Row.id, Row.attempts, Row.sender, Row.recipient_email, Row.message)
            .where(Row.id.in_(ids))).all()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    order = {row_id: n for n, row_id in enumerate(ids)}
    return sorted((Claimed(*row) for row in rows), key=lambda c: order[c.id])


def _finish(row: Claimed, values: dict) -> bool:
    """Record the outcome, if this worker still holds the row (its lease may have run
    out and another worker taken it: then the other's word counts)."""
    begin_write()
    try:
        result = db.session.execute(
            update(Row).where(Row.id == row.id, Row.status == SENDING,
                              Row.attempts == row.attempts).values(**values))
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if result.rowcount == 0:
        log.warning("outbox message %s: lease lost before its outcome was recorded", row.id)
    return result.rowcount == 1


def _sent(row: Claimed, tally: Tally) -> None:
    now = now_utc()
    _finish(row, dict(status=SENT, sent_at=now, next_attempt_at=now, last_error=""))
    tally.sent += 1
    log.info("outbox message %s sent to %s", row.id, row.recipient)


def _not_sent(row: Claimed, error: SendError, config, tally: Tally) -> None:
    now = now_utc()
    most = int(_setting(config, "AEPLAN_OUTBOX_MAX_ATTEMPTS", 8))
    reason = error.reason[:ERROR_LENGTH]
    if error.permanent or row.attempts >= most:
        _finish(row, dict(status=FAILED, next_attempt_at=now, last_error=reason))
        tally.failed += 1
        log.warning("outbox message %s to %s failed after %d attempt(s): %s", row.id,
                    row.recipient, row.attempts, reason)
    else:
        _finish(row, dict(status=QUEUED, next_attempt_at=now + backoff(row.attempts, config),
                          last_error=reason))
        tally.retry += 1
        log.warning("outbox message %s to %s not sent (attempt %d), will retry: %s",
                    row.id, row.recipient, row.attempts, reason)


def _release(rows: list[Claimed]) -> None:
    """Give back rows this worker claimed but never tried (its connection broke on an
    earlier one): due again now, the attempt not counted."""
    now = now_utc()
    for row in rows:
        _finish(row, dict(status=QUEUED, attempts=row.attempts - 1, next_attempt_at=now))


def deliver_batch(config) -> Tally | None:
    """Claim one batch and send it over one connection. None when nothing was due."""
    rows = claim(config)
    if not rows:
        return None
    tally = Tally()
    server = Connection(config)
    try:
        server.open()
    except SendError as error:
        for row in rows:
            _not_sent(row, error, config, tally)
        return tally
    try:
        for n, row in enumerate(rows):
            try:
                server.send(row.sender, row.recipient, row.message)
            except SendError as error:
                _not_sent(row, error, config, tally)
                if error.broken:
                    _release(rows[n + 1:])
                    break
            else:
                _sent(row, tally)
    finally:
        server.close()
    return tally


def drain(config, stop: threading.Event | None = None) -> Tally:
    """Send everything that is due now (or until `stop` is set, between batches);
    returns what happened."""
    total = Tally()
    while not (stop is not None and stop.is_set()):
        tally = deliver_batch(config)
        if tally is None:
            break
        total.add(tally)
    return total


def run(config, *, interval: float, stop: threading.Event,
        echo: Callable[[str], None]) -> None:
    """Drain, then wait `interval` seconds, until `stop` is set. A database that fails
    is logged and tried again after the interval; the loop keeps going."""
    while not stop.is_set():
        try:
            tally = drain(config, stop)
        except SQLAlchemyError as error:
            db.session.rollback()
            log.warning("outbox: the database failed (%s); trying again in %g s",
                        type(error).__name__, interval)
        else:
            if tally:
                echo(str(tally))
        stop.wait(interval)


