"""Time-weighted uptime from status changes (not a count of probes).

An endpoint's status at its primary location is a step function: the status of the last
`StatusChange` before a moment (unknown before its first result). Over a period, uptime is

    time up or degraded / time up, degraded or down

leaving out the endpoint's maintenance windows (its own, its VPC's, everything's), the
periods when the portal itself stopped probing (for centrally probed endpoints), and unknown
time. Degraded counts as available (it answers, slowly or throttled); down does not. None when
no time at all is known.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Count, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from endpoints.network.choices import Status
from endpoints.network.models import Endpoint
from endpoints.probes.models import CENTRAL, ProbeSchedule, StatusChange

from . import maintenance, probing
from .models import UptimeSummary

AVAILABLE = frozenset({Status.UP, Status.DEGRADED})
KNOWN = frozenset({Status.UP, Status.DEGRADED, Status.DOWN})
WINDOWS = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
CHUNK = 500


def percent(up: float, known: float) -> float | None:
    return round(100 * up / known, 3) if known > 0 else None


def _merge(spans):
    merged = []
    for begin, finish in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], finish))
        else:
            merged.append((begin, finish))
    return merged


def _uncovered(begin, finish, excluded) -> float:
    """Seconds of [begin, finish) outside every (merged, sorted) excluded span."""
    total = (finish - begin).total_seconds()
    for ex_begin, ex_finish in excluded:
        if ex_finish <= begin:
            continue
        if ex_begin >= finish:
            break
        total -= (min(finish, ex_finish) - max(begin, ex_begin)).total_seconds()
    return max(0.0, total)


class Timeline:
    """One endpoint's status segments over a period, and the spans that do not count."""

    def __init__(self, segments, excluded):
        self.segments = segments  # [(begin, finish, status)], sorted, contiguous
        self.excluded = excluded  # [(begin, finish)], merged

    def seconds(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(available seconds, known seconds) within [start, end)."""
        up = known = 0.0
        for begin, finish, status in self.segments:
            begin, finish = max(begin, start), min(finish, end)
            if finish <= begin or status not in KNOWN:
                continue
            counted = _uncovered(begin, finish, self.excluded)
            known += counted
            if status in AVAILABLE:
                up += counted
        return up, known

    def percent(self, start, end) -> float | None:
        return percent(*self.seconds(start, end))


def timelines(endpoint_ids, start: datetime, end: datetime, now=None) -> dict[int, Timeline]:
    """The timelines of `endpoint_ids` over [start, end), in bulk: three queries (endpoints
    with their status at `start`, the flips in the period, the maintenance windows) plus the
    probing gaps, whatever the number of endpoints."""
    now = now or timezone.now()
    end = min(end, now)
    ids = list(endpoint_ids)
    if not ids or end <= start:
        return {}
    primary = ProbeSchedule.objects.filter(endpoint=OuterRef("pk"), primary=True).values(
        "location"
    )[:1]
    before = (
        StatusChange.objects.filter(
            endpoint=OuterRef("pk"), location=OuterRef("place"), at__lt=start
        )
        .order_by("-at", "-id")
        .values("status")[:1]
    )
    rows = (
        Endpoint.objects.filter(pk__in=ids)
        .annotate(place=Coalesce(Subquery(primary), Value(CENTRAL)))
        .annotate(initial=Subquery(before))
        .values_list("pk", "vpc_id", "place", "initial")
    )
    flips = defaultdict(list)
    for endpoint_id, location, at, status in (
        StatusChange.objects.filter(endpoint_id__in=ids, at__gte=start, at__lt=end)
        .order_by("endpoint_id", "at", "id")
        .values_list("endpoint_id", "location", "at", "status")
    ):
        flips[(endpoint_id, location)].append((at, status))
    windows = maintenance.relevant(start, end)
    gaps = probing.gaps(start, end, now=now)
    result = {}
    for pk, vpc_id, place, initial in rows:
        segments, moment, status = [], start, initial or Status.UNKNOWN
        for at, new_status in flips.get((pk, place), []):
            if at > moment:
                segments.append((moment, at, status))
            moment, status = max(moment, at), new_status
        segments.append((moment, end, status))
        excluded = maintenance.spans_for(windows, pk, vpc_id, start, end)
        if place == CENTRAL:
            excluded += gaps
        result[pk] = Timeline(segments, _merge(excluded))
    return result


def figures(endpoint_ids, now=None) -> dict[int, dict[str, tuple[float, float]]]:
    """(available s, known s) per window in WINDOWS, per endpoint (chunked, bulk)."""
    now = now or timezone.now()
    start = now - max(WINDOWS.values())
    ids = list(endpoint_ids)
    out = {}
    for offset in range(0, len(ids), CHUNK):
        for pk, timeline in timelines(ids[offset : offset + CHUNK], start, now, now=now).items():
            out[pk] = {name: timeline.seconds(now - span, now) for name, span in WINDOWS.items()}
    return out


# -- groups of endpoints (a VPC, a region, a workspace) --------------------------------------
# A group's uptime is its endpoints' time-weighted figures added up: SUM(available seconds) /
# SUM(known seconds) over the summaries `refresh_uptime` keeps (computed by `figures` above),
# so an endpoint with more known time weighs more, and one whose time was all maintenance or
# unknown weighs nothing. One query per page, per grouping, whatever the number of endpoints.


def _sums(prefix: str = "") -> dict:
    sums = {}
    for name in WINDOWS:
        sums[f"up_{name}"] = Sum(f"{prefix}up_{name}")
        sums[f"known_{name}"] = Sum(f"{prefix}known_{name}")
    return sums


def _percents(row: dict) -> dict[str, float | None]:
    return {name: percent(row[f"up_{name}"] or 0, row[f"known_{name}"] or 0) for name in WINDOWS}


def of_endpoints(endpoints) -> dict[str, float | None]:
    """The uptime of a set of endpoints (a queryset) per window in WINDOWS, in one query."""
    return _percents(UptimeSummary.objects.filter(endpoint__in=endpoints).aggregate(**_sums()))


def by_group(endpoints, by: str) -> list[dict]:
    """[{"key", "n", "24h", "7d", "30d", "90d"}] per value of `by` (a field path of Endpoint,
    e.g. "vpc__vpc_id"), in one grouped query; `n` counts every endpoint, summarised or not."""
    rows = endpoints.order_by().values(by).annotate(n=Count("pk"), **_sums("uptime__")).order_by(by)
    return [{"key": row[by], "n": row["n"], **_percents(row)} for row in rows]
