"""Calendar messages that a change calls for.

Services queue a notice on the session as they change a booking; when that transaction
commits, `aeplan.calendar.mail` turns each notice into iMIP emails in the outbox, in the
same transaction. A rollback drops the queue, so nothing is announced that did not
happen.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import event
from sqlalchemy.orm import Session

from aeplan.extensions import db

KEY = "calendar_notices"


@dataclass(frozen=True)
class Notice:
    booking_id: int
    # "update": a REQUEST to everyone on the booking (moved, restaffed, changed);
    # "cancel": a CANCEL to everyone; "removed": a CANCEL to `user_id` alone.
    kind: str
    user_id: int | None = None


def queue(booking_id: int, kind: str, user_id: int | None = None) -> None:
    notices = db.session.info.setdefault(KEY, [])
    notice = Notice(booking_id, kind, user_id)
    if notice not in notices:
        notices.append(notice)


def take(session: Session | None = None) -> list[Notice]:
    """The notices queued in `session` (default: the app's) since the last call; the
    queue is empty afterwards."""
    return (session if session is not None else db.session).info.pop(KEY, [])


@event.listens_for(Session, "after_rollback")
def _drop(session):
    session.info.pop(KEY, None)
