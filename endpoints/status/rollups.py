"""Hourly rollups of the raw results: per endpoint, location and hour, counts by status and
the p50/p95/p99 of the total and of each phase.

`roll_up()` (every 10 minutes) is idempotent and catches up: each hour from the watermark
(less one hour, for results delivered late, e.g. an agent's buffer) to the last complete
hour is rebuilt whole (deleted and inserted in one transaction). On PostgreSQL one
INSERT … SELECT with percentile_cont per hour; elsewhere the same figures in Python.
"""

from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from endpoints.probes.models import ProbeResult

from .models import PERCENTILES, ROLLUP_FIELDS, ROLLUP_PHASES, HourlyRollup, Watermark

WATERMARK = "rollups"
MAX_HOURS_PER_RUN = 72
HOUR = timedelta(hours=1)
STATUSES = ("up", "degraded", "down", "unknown")


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def percentile_cont(values: list[float], q: float) -> float | None:
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""
    if not values:
        return None
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def roll_up(now=None) -> int:
    """Build the rollups of every complete hour not yet built (and the one before the
    watermark again); returns how many hours were built."""
    now = now or timezone.now()
    last_complete = floor_hour(now)  # exclusive: the current hour is not complete
    mark = Watermark.objects.filter(pk=WATERMARK).first()
    if mark is not None:
        hour = mark.until - HOUR
    else:
        oldest = ProbeResult.objects.aggregate(m=Min("started_at"))["m"]
        if oldest is None:
            return 0
        hour = floor_hour(oldest)
    floor = floor_hour(now - timedelta(hours=settings.PORTAL_PROBE_RETENTION_HOURS))
    hour = max(hour, floor)
    built = 0
    while hour < last_complete and built < MAX_HOURS_PER_RUN:
        build_hour(hour)
        hour += HOUR
        built += 1
        Watermark.objects.update_or_create(pk=WATERMARK, defaults={"until": hour})
    return built


def build_hour(hour: datetime) -> int:
    with transaction.atomic():
        HourlyRollup.objects.filter(hour=hour).delete()
        if connection.vendor == "postgresql":
            return _build_postgres(hour)
        return _build_python(hour)


def _build_postgres(hour: datetime) -> int:
    result = ProbeResult._meta.db_table
    rollup = HourlyRollup._meta.db_table
    qs = ", ".join(str(p / 100) for p in PERCENTILES)
    counts = ", ".join(f"count(*) FILTER (WHERE status = '{s}') AS n_{s}" for s in STATUSES)
    arrays = ", ".join(
        f"percentile_cont(ARRAY[{qs}]) WITHIN GROUP (ORDER BY {phase}_ms) AS {phase}_q"
        for phase in ROLLUP_PHASES
    )
    picks = ", ".join(
        f"{phase}_q[{i + 1}]" for phase in ROLLUP_PHASES for i in range(len(PERCENTILES))
    )
    sql = f"""
        INSERT INTO {rollup} (endpoint_id, location, hour, {", ".join(STATUSES)}, {", ".join(ROLLUP_FIELDS)})
        SELECT endpoint_id, location, %s, {", ".join(f"n_{s}" for s in STATUSES)}, {picks}
        FROM (
            SELECT endpoint_id, location,
                   {counts},
                   {arrays}
            FROM {result}
            WHERE started_at >= %s AND started_at < %s
            GROUP BY endpoint_id, location
        ) grouped
    """  # noqa: S608 - table and column names are the models' own; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [hour, hour, hour + HOUR])
        return cursor.rowcount


def _build_python(hour: datetime) -> int:
    groups: dict[tuple[int, str], dict] = defaultdict(
        lambda: {"counts": dict.fromkeys(STATUSES, 0), "phases": defaultdict(list)}
    )
    columns = [f"{phase}_ms" for phase in ROLLUP_PHASES]
    rows = (
        ProbeResult.objects.filter(started_at__gte=hour, started_at__lt=hour + HOUR)
        .values_list("endpoint_id", "location", "status", *columns)
        .iterator(chunk_size=5000)
    )
    for endpoint_id, location, status, *values in rows:
        group = groups[(endpoint_id, location)]
        group["counts"][status if status in STATUSES else "unknown"] += 1
        for phase, value in zip(ROLLUP_PHASES, values, strict=True):
            if value is not None:
                group["phases"][phase].append(value)
    built = []
    for (endpoint_id, location), group in groups.items():
        fields = {}
        for phase in ROLLUP_PHASES:
            values = sorted(group["phases"][phase])
            for p in PERCENTILES:
                fields[f"{phase}_p{p}"] = percentile_cont(values, p / 100)
        built.append(
            HourlyRollup(
                endpoint_id=endpoint_id,
                location=location,
                hour=hour,
                **group["counts"],
                **fields,
            )
        )
    HourlyRollup.objects.bulk_create(built, batch_size=1000)
    return len(built)
