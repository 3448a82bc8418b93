"""Staffing: who is on which booking. Functions flush; callers commit."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select

from aeplan.extensions import db
from aeplan.staffing.models import Assignment


def staffed_counts(booking_ids: Iterable[int]) -> dict[int, int]:
    """Per booking, how many people are on it and have not declined (one query)."""
    ids = list(booking_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(Assignment.booking_id, func.count())
        .where(Assignment.booking_id.in_(ids), Assignment.removed_at.is_(None),
               Assignment.status != "declined")
        .group_by(Assignment.booking_id)
    )
    return {booking_id: count for booking_id, count in rows}


def understaffed(bookings) -> list:
    """The bookings that need more people than are on them."""
    counts = staffed_counts(b.id for b in bookings)
    return [b for b in bookings if b.needs_total > counts.get(b.id, 0)]
