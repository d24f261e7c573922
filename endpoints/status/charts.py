"""Chart.js configurations of the history (built here, drawn by static/portal.js)."""

from datetime import timedelta

from django.utils import timezone

from endpoints.probes.charts import PHASES, STATUS_COLORS

RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RAW_RANGES = {"1h", "24h"}  # raw results; longer ranges read the hourly rollups
MAX_POINTS = 360


def _label(moment, span) -> str:
    local = timezone.localtime(moment)
    return local.strftime("%H:%M" if span <= timedelta(hours=24) else "%m-%d %H:%M")


def _buckets(rows, start, end, count):
    """Average the rows (moment, {phase: ms}) into `count` buckets over [start, end)."""
    width = (end - start) / count
    sums = [dict.fromkeys([p for p, _, _ in PHASES], 0.0) for _ in range(count)]
    n = [0] * count
    for moment, values in rows:
        index = min(count - 1, max(0, int((moment - start) / width)))
        n[index] += 1
        for phase, value in values.items():
            sums[index][phase] += value or 0.0
    points = []
    for index in range(count):
        if n[index]:
            points.append(
                (start + width * index, {p: v / n[index] for p, v in sums[index].items()})
            )
    return points


def history_chart(points, incidents, span) -> dict:
    """Stacked areas, one per phase (ms), oldest first; incidents as a translucent band."""
    labels = [_label(moment, span) for moment, _ in points]
    datasets = [
        {
            "label": label,
            "data": [round(values.get(field) or 0, 1) for _, values in points],
            "backgroundColor": color,
            "borderColor": color,
            "fill": True,
            "pointRadius": 0,
            "stack": "phases",
        }
        for field, label, color in PHASES
    ]
    if incidents:
        tops = [round(sum(v or 0 for v in values.values()), 1) for _, values in points]
        peak = max(tops) if tops else 0
        datasets.append(
            {
                "label": "Incident",
                "type": "bar",
                "data": [
                    peak if any(i.opened_at <= m <= (i.closed_at or m) for i in incidents) else None
                    for m, _ in points
                ],
                "backgroundColor": "rgba(220, 53, 69, 0.18)",
                "barPercentage": 1.0,
                "categoryPercentage": 1.0,
                "stack": "incidents",
            }
        )
    return {
        "type": "line",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "scales": {
                "x": {"ticks": {"maxTicksLimit": 8}},
                "y": {"stacked": True, "title": {"display": True, "text": "ms"}},
            },
            "plugins": {"legend": {"position": "bottom", "labels": {"boxWidth": 10}}},
        },
    }


__all__ = ["MAX_POINTS", "PHASES", "RANGES", "RAW_RANGES", "STATUS_COLORS", "history_chart"]
