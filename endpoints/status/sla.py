"""The monthly SLA report of a workspace: each endpoint's time-weighted uptime over the month
(maintenance and unknown time left out), its downtime and its incidents."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from endpoints.network.models import Endpoint

from . import uptime
from .models import Incident

MAX_ENDPOINTS = 5000


@dataclass
class Row:
    pk: int
    name: str
    up_s: float
    known_s: float
    incidents: int

    @property
    def percent(self):
        return uptime.percent(self.up_s, self.known_s)

    @property
    def down_s(self):
        return self.known_s - self.up_s


@dataclass
class Report:
    start: datetime
    end: datetime
    rows: list[Row] = field(default_factory=list)

    @property
    def up_s(self):
        return sum(r.up_s for r in self.rows)

    @property
    def known_s(self):
        return sum(r.known_s for r in self.rows)

    @property
    def down_s(self):
        return self.known_s - self.up_s

    @property
    def percent(self):
        return uptime.percent(self.up_s, self.known_s)

    @property
    def incidents(self):
        return sum(r.incidents for r in self.rows)


def next_month(start: datetime) -> datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def monthly(workspace, start: datetime) -> Report:
    end = next_month(start)
    endpoints = list(
        Endpoint.objects.filter(workspace=workspace)
        .order_by("name")
        .values_list("pk", "name")[:MAX_ENDPOINTS]
    )
    ids = [pk for pk, _ in endpoints]
    timelines = {}
    for offset in range(0, len(ids), uptime.CHUNK):
        timelines.update(uptime.timelines(ids[offset : offset + uptime.CHUNK], start, end))
    counts = Counter(
        Incident.objects.filter(
            endpoint_id__in=ids, opened_at__gte=start, opened_at__lt=end
        ).values_list("endpoint_id", flat=True)
    )
    report = Report(start, end)
    for pk, name in endpoints:
        timeline = timelines.get(pk)
        up, known = timeline.seconds(start, end) if timeline else (0.0, 0.0)
        report.rows.append(Row(pk, name, up, known, counts.get(pk, 0)))
    return report


def csv_safe(text: str) -> str:
    """A cell a spreadsheet will not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
