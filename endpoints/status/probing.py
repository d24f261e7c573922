"""Is the portal itself probing? When no central result is stored for 3x the shortest interval,
no worker or beat is running: the board says so, and the silence counts as unknown for the
central endpoints (never as downtime).

`watch()` (every minute, on the dispatcher's queue) writes those silences as `ProbingGap`
rows from the stored results themselves, from a watermark on: so a silence is found even
when beat itself was what stopped (the first run after it finds the hole in the results).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.db.models import Max, Min
from django.utils import timezone

from endpoints.probes.models import CENTRAL, ProbeResult, ProbeSchedule

from .models import ProbingGap, Watermark

WATERMARK = "probing-gaps"
SCAN_LIMIT = 200_000  # timestamps per run; a backlog is taken over several runs


def silence_after() -> timedelta | None:
    """3x the shortest interval among the enabled endpoints probed centrally (None: none)."""
    shortest = ProbeSchedule.objects.filter(location=CENTRAL, endpoint__enabled=True).aggregate(
        s=Min("endpoint__interval_s")
    )["s"]
    return timedelta(seconds=3 * shortest) if shortest else None


@dataclass
class Stopped:
    since: datetime  # the last central result (or None: never)
    for_: timedelta

    @property
    def minutes(self) -> int:
        return max(1, int(self.for_.total_seconds() // 60))


def stopped(now=None) -> Stopped | None:
    """Probing stopped (no central result for 3x the shortest interval), or None."""
    now = now or timezone.now()
    limit = silence_after()
    if limit is None:
        return None
    last = ProbeResult.objects.filter(location=CENTRAL).aggregate(m=Max("started_at"))["m"]
    if last is None:
        return None  # nothing probed yet: the board says "not probed yet" instead
    if now - last > limit:
        return Stopped(since=last, for_=now - last)
    return None


def watch(now=None) -> int:
    """Record the silences in the central results since the watermark (closed ones: from the
    last result before to the first after; a silence going on now: open); returns how many
    gaps were written."""
    now = now or timezone.now()
    limit = silence_after()
    mark = Watermark.objects.filter(pk=WATERMARK).first()
    if limit is None:
        Watermark.objects.update_or_create(pk=WATERMARK, defaults={"until": now})
        return 0
    since = mark.until if mark else now - limit
    floor = since - limit
    still_open = ProbingGap.objects.filter(ended_at__isnull=True).order_by("started_at").first()
    if still_open is not None:
        floor = min(floor, still_open.started_at)  # its end is the first result after it
    times = list(
        ProbeResult.objects.filter(location=CENTRAL, started_at__gte=floor)
        .order_by("started_at")
        .values_list("started_at", flat=True)[:SCAN_LIMIT]
    )
    written = 0
    for before, after in pairwise(times):
        if after - before > limit and after > since:
            gap, _ = ProbingGap.objects.get_or_create(started_at=before)
            if gap.ended_at != after:
                gap.ended_at = after
                gap.save(update_fields=["ended_at"])
                written += 1
    last = (
        times[-1]
        if times
        else (ProbeResult.objects.filter(location=CENTRAL).aggregate(m=Max("started_at"))["m"])
    )
    if last is not None and now - last > limit:
        _, created = ProbingGap.objects.get_or_create(started_at=last)
        written += int(created)
    scanned_to = times[-1] if len(times) == SCAN_LIMIT else now
    Watermark.objects.update_or_create(pk=WATERMARK, defaults={"until": scanned_to})
    return written


def gaps(start: datetime, end: datetime, now=None) -> list[tuple[datetime, datetime]]:
    """The probing gaps overlapping [start, end), plus one still going on now."""
    now = now or timezone.now()
    spans = [
        (g.started_at, g.ended_at or now)
        for g in ProbingGap.objects.filter(started_at__lt=end).exclude(ended_at__lte=start)
    ]
    current = stopped(now)
    if current is not None and not any(s <= current.since and e >= now for s, e in spans):
        spans.append((current.since, now))
    return spans
