"""Who may see and change what. Services call these; views never decide on their own."""
from __future__ import annotations

from sqlalchemy import exists, select, true

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.models import Client
from aeplan.errors import NotAllowed
from aeplan.extensions import db
from aeplan.staffing.models import Assignment


def is_assigned(user: User, booking_id: int) -> bool:
    stmt = select(
        exists().where(
            Assignment.booking_id == booking_id,
            Assignment.user_id == user.id,
            Assignment.removed_at.is_(None),
        )
    )
    return bool(db.session.scalar(stmt))


def assigned_to(user_id):
    """A WHERE clause: bookings the support person `user_id` (a value or a bound
    parameter) is on."""
    return Booking.id.in_(
        select(Assignment.booking_id).where(
            Assignment.user_id == user_id, Assignment.removed_at.is_(None)
        )
    )


def booking_visibility(user: User):
    """A WHERE clause limiting bookings to those `user` may see."""
    if user.role == "support":
        return assigned_to(user.id)
    return true()


def require_view_booking(user: User, booking: Booking) -> None:
    if user.role == "support" and not is_assigned(user, booking.id):
        raise NotAllowed("You are not assigned to this booking.")


def can_edit_booking(user: User, booking: Booking) -> bool:
    return user.is_manager or (user.role == "ae" and booking.owner_id == user.id)


def require_edit_booking(user: User, booking: Booking) -> None:
    if not can_edit_booking(user, booking):
        raise NotAllowed("Only the booking's AE or a manager can change this booking.")


def can_book(user: User) -> bool:
    return user.role in ("ae", "manager", "admin")


def require_view_clients(user: User) -> None:
    if user.role == "support":
        raise NotAllowed("Support staff see clients through their assignments.")


def can_edit_client(user: User, client: Client) -> bool:
    return user.is_manager or (user.role == "ae" and client.owner_id == user.id)


def require_edit_client(user: User, client: Client) -> None:
    if not can_edit_client(user, client):
        raise NotAllowed("Only the client's AE or a manager can change this client.")


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise NotAllowed("Only administrators can manage users.")
