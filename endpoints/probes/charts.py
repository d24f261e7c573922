"""Chart.js configurations built on the server (the template only draws them)."""

from django.utils import timezone

PHASES = [
    ("resolve_ms", "DNS", "#6f42c1"),
    ("connect_ms", "TCP", "#0d6efd"),
    ("tls_ms", "TLS", "#20c997"),
    ("processing_ms", "Time to first byte", "#fd7e14"),
    ("transfer_ms", "Transfer", "#adb5bd"),
]
STATUS_COLORS = {"up": "#198754", "degraded": "#d39e00", "down": "#dc3545", "unknown": "#6c757d"}


def _label(moment) -> str:
    return timezone.localtime(moment).strftime("%H:%M:%S")


def latency_chart(results) -> dict:
    """Stacked bars: each probe's latency split by phase, oldest first."""
    labels = [_label(r.started_at) for r in results]
    datasets = [
        {
            "label": label,
            "data": [round(getattr(r, field) or 0, 1) for r in results],
            "backgroundColor": color,
            "stack": "phases",
        }
        for field, label, color in PHASES
    ]
    datasets.append(
        {
            "label": "Waited, no answer",
            "data": [r.waited_ms for r in results],
            "backgroundColor": "#dc3545",
            "stack": "phases",
        }
    )
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": datasets},
        "options": {
            "scales": {
                "x": {"stacked": True, "ticks": {"maxTicksLimit": 8}},
                "y": {"stacked": True, "title": {"display": True, "text": "ms"}},
            },
            "plugins": {"legend": {"position": "bottom", "labels": {"boxWidth": 10}}},
        },
    }
