"""Pure date arithmetic for the calendar views."""
from datetime import date, timedelta


def week_days(anchor: date) -> list[date]:
    monday = anchor - timedelta(days=anchor.weekday())
    return [monday + timedelta(days=i) for i in range(7)]


def month_grid(anchor: date) -> list[date]:
    """Whole weeks (Monday to Sunday) covering the month of `anchor`."""
    first = anchor.replace(day=1)
    start = first - timedelta(days=first.weekday())
    next_month = (first + timedelta(days=32)).replace(day=1)
    last = next_month - timedelta(days=1)
    end = last + timedelta(days=6 - last.weekday())
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
