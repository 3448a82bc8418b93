"""Who may see and change what. Services call these; views never decide on their own.

What a user may not see answers exactly like what does not exist (NotFound, 404), so
that ids cannot be probed; what they may see but not change is NotAllowed (403).
AEs see the whole team's clients and bookings unless AEPLAN_AE_SEES_TEAM is off; then
they see their own clients and the bookings they own or that serve their clients.
"""
from __future__ import annotations

from flask import current_app
from sqlalchemy import exists, or_, select, true

from aeplan.auth.models import User
from aeplan.bookings.models import Booking
from aeplan.clients.models import Client
from aeplan.errors import NotAllowed, NotFound
from aeplan.extensions import db
from aeplan.staffing.models import Assignment


def ae_sees_team() -> bool:
    return bool(current_app.config.get("AEPLAN_AE_SEES_TEAM", True))


def sees_own_only(user: User) -> bool:
    """An AE limited to their own clients and bookings (AEPLAN_AE_SEES_TEAM off)."""
    return user.role == "ae" and not ae_sees_team()


def owned_clients(user_id):
    """Ids of the clients the AE `user_id` (a value or a bound parameter) owns."""
    return select(Client.id).where(Client.owner_id == user_id)


def of_own_accounts(user_id):
    """A WHERE clause: bookings the AE `user_id` owns or that serve their clients."""
    return or_(Booking.owner_id == user_id, Booking.client_id.in_(owned_clients(user_id)))


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
    if sees_own_only(user):
        return of_own_accounts(user.id)
    return true()


def can_view_booking(user: User, booking: Booking) -> bool:
    if user.role == "support":
        return is_assigned(user, booking.id)
    if sees_own_only(user):
        return booking.owner_id == user.id or booking.client.owner_id == user.id
    return True


def require_view_booking(user: User, booking: Booking) -> None:
    if not can_view_booking(user, booking):
        raise NotFound("No such booking.")


def can_edit_booking(user: User, booking: Booking) -> bool:
    return user.is_manager or (user.role == "ae" and booking.owner_id == user.id)


def require_edit_booking(user: User, booking: Booking) -> None:
    if not can_edit_booking(user, booking):
        raise NotAllowed("Only the booking's AE or a manager can change this booking.")


def can_book(user: User) -> bool:
    return user.role in ("ae", "manager", "admin")


def require_view_clients(user: User) -> None:
    """The clients section as a whole (lists): not for support staff."""
    if user.role == "support":
        raise NotAllowed("Support staff see clients through their assignments.")


def client_visibility(user: User):
    """A WHERE clause limiting clients to those `user` may open (support: none here)."""
    if user.role == "support":
        return Client.id.is_(None)
    if sees_own_only(user):
        return Client.owner_id == user.id
    return true()


def can_view_client(user: User, client: Client) -> bool:
    if user.role == "support":
        return False
    return not sees_own_only(user) or client.owner_id == user.id


def require_view_client(user: User, client: Client) -> None:
    if not can_view_client(user, client):
        raise NotFound("No such client.")


def can_edit_client(user: User, client: Client) -> bool:
    return user.is_manager or (user.role == "ae" and client.owner_id == user.id)


def require_edit_client(user: User, client: Client) -> None:
    if not can_edit_client(user, client):
        raise NotAllowed("Only the client's AE or a manager can change this client.")


def require_admin(user: User) -> None:
    if not user.is_admin:
        raise NotAllowed("Only administrators can manage users.")
