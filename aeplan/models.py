"""Every model, imported in one place so that the metadata is complete."""
from aeplan.auth.models import LoginFailure, User
from aeplan.bookings.models import Booking, BookingChange
from aeplan.calendar.models import DataVersion, EventCache, FeedCache
from aeplan.clients.models import Client, Contact
from aeplan.outbox.models import OutboxMessage
from aeplan.staffing.models import Assignment, TimeOff
from aeplan.trips.models import Expense, Trip

__all__ = [
    "Assignment", "Booking", "BookingChange", "Client", "Contact", "DataVersion", "EventCache",
    "Expense", "FeedCache", "LoginFailure", "OutboxMessage", "TimeOff", "Trip", "User",
]
