"""Maintenance windows: their occurrences in a period, and whether one covers a moment.

A recurring window repeats its first occurrence in its own time zone's wall time (dateutil's
rrule over a naive local start, each occurrence localised with zoneinfo), so a window at
02:00 Asia/Shanghai stays at 02:00 local time whatever the UTC offset does.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule
from django.db.models import Q

from .models import MaintenanceWindow, Recurrence

MAX_OCCURRENCES = 2000  # per window and period: a daily window over 400 days fits
FREQ = {
    Recurrence.DAILY: rrule.DAILY,
    Recurrence.WEEKLY: rrule.WEEKLY,
    Recurrence.MONTHLY: rrule.MONTHLY,
}


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Asia" is a directory
        return ZoneInfo("UTC")


def occurrences(window: MaintenanceWindow, start: datetime, end: datetime):
    """(from, to) of each occurrence of `window` overlapping [start, end), in UTC."""
    length = window.ends_at - window.starts_at
    if length <= timedelta(0):
        return []
    if not window.recurrence:
        if window.starts_at < end and window.ends_at > start:
            return [(window.starts_at, window.ends_at)]
        return []
    tz = zone(window.timezone)
    first = window.starts_at.astimezone(tz).replace(tzinfo=None)
    until = window.repeat_until.astimezone(tz).replace(tzinfo=None) if window.repeat_until else None
    rule = rrule.rrule(FREQ[window.recurrence], dtstart=first, until=until)
    lo = (start - length).astimezone(tz).replace(tzinfo=None)
    hi = end.astimezone(tz).replace(tzinfo=None)
    spans = []
    for local in rule.xafter(max(lo, first - timedelta(seconds=1)), inc=True):
        if local >= hi or len(spans) >= MAX_OCCURRENCES:
            break
        begin = local.replace(tzinfo=tz).astimezone(UTC)
        finish = begin + length
        if begin < end and finish > start:
            spans.append((begin, finish))
    return spans


def relevant(start: datetime, end: datetime):
    """The windows that may have an occurrence in [start, end) (one query)."""
    return list(
        MaintenanceWindow.objects.filter(starts_at__lt=end).filter(
            Q(recurrence="", ends_at__gt=start)
            | (~Q(recurrence="") & (Q(repeat_until__isnull=True) | Q(repeat_until__gt=start)))
        )
    )


def applies(window: MaintenanceWindow, endpoint_id: int, vpc_id: int | None) -> bool:
    if window.endpoint_id:
        return window.endpoint_id == endpoint_id
    if window.vpc_id:
        return window.vpc_id == vpc_id
    return True


def spans_for(windows, endpoint_id, vpc_id, start, end) -> list[tuple[datetime, datetime]]:
    spans = []
    for window in windows:
        if applies(window, endpoint_id, vpc_id):
            spans.extend(occurrences(window, start, end))
    return spans


def covering(windows, endpoint_id, vpc_id, at: datetime) -> MaintenanceWindow | None:
    """The window holding `at` for this endpoint (or its VPC, or everything), if any."""
    for window in windows:
        if applies(window, endpoint_id, vpc_id):
            for begin, finish in occurrences(window, at, at + timedelta(microseconds=1)):
                if begin <= at < finish:
                    return window
    return None


def active_now(now: datetime):
    """Windows that could cover `now` (for holding alerts back)."""
    return relevant(now, now + timedelta(microseconds=1))
