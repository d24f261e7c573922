"""Chart.js configurations for the cost pages (drawn by static/portal.js from data-chart).

Values are decimal strings: Chart.js reads "12.34" as a number, and no float is made here.
"""

import json
from datetime import date, timedelta
from decimal import Decimal

from .reports import STACKED_WORKSPACES

PALETTE = [
    "#0d6efd",
    "#fd7e14",
    "#20c997",
    "#6f42c1",
    "#d63384",
    "#198754",
    "#ffc107",
    "#0dcaf0",
]
OTHER_COLOUR = "#adb5bd"


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _bar(labels, datasets, currency: str, *, stacked: bool, horizontal: bool = False) -> str:
    value_axis = {"stacked": stacked, "title": {"display": True, "text": currency}}
    category_axis = {"stacked": stacked}
    scales = (
        {"x": value_axis, "y": category_axis}
        if horizontal
        else {"x": category_axis, "y": value_axis}
    )
    options = {
        "scales": scales,
        "plugins": {"legend": {"position": "bottom", "labels": {"boxWidth": 10}}},
    }
    if horizontal:
        options["indexAxis"] = "y"
        options["plugins"]["legend"] = {"display": False}
    return json.dumps(
        {"type": "bar", "data": {"labels": labels, "datasets": datasets}, "options": options}
    )


def daily_by_workspace(currency_split, start: date, end: date) -> str:
    """Cost per day, stacked by workspace (the top spenders, then "Other")."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    top = [line.workspace for line in currency_split.lines if line.cost][:STACKED_WORKSPACES]
    top_ids = {w.pk for w in top}
    series: dict[object, dict[date, Decimal]] = {w.pk: {} for w in top}
    other: dict[date, Decimal] = {}
    for row in currency_split.daily:
        target = series.get(row["workspace_id"], other) if row["workspace_id"] in top_ids else other
        target[row["day"]] = target.get(row["day"], Decimal(0)) + (row["day_cost"] or Decimal(0))
    datasets = [
        {
            "label": workspace.name,
            "data": [_money(series[workspace.pk].get(d, Decimal(0))) for d in days],
            "backgroundColor": PALETTE[i % len(PALETTE)],
            "stack": "cost",
        }
        for i, workspace in enumerate(top)
    ]
    if other:
        datasets.append(
            {
                "label": "Other workspaces",
                "data": [_money(other.get(d, Decimal(0))) for d in days],
                "backgroundColor": OTHER_COLOUR,
                "stack": "cost",
            }
        )
    labels = [d.strftime("%d %b") if len(days) <= 62 else d.isoformat() for d in days]
    return _bar(labels, datasets, currency_split.currency, stacked=True)


def by_model(rows, currency: str) -> str:
    """Cost per model (horizontal bars, the largest first)."""
    rows = [r for r in rows if r["cost"]][:15]
    return _bar(
        [r["model_name"] for r in rows],
        [
            {
                "label": currency,
                "data": [_money(r["cost"]) for r in rows],
                "backgroundColor": PALETTE[0],
            }
        ],
        currency,
        stacked=False,
        horizontal=True,
    )


def per_day(rows, start: date, end: date, currency: str) -> str:
    """One workspace's cost per day."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    values = {r["day"]: r["cost"] for r in rows}
    return _bar(
        [d.strftime("%d %b") if len(days) <= 62 else d.isoformat() for d in days],
        [
            {
                "label": currency,
                "data": [_money(values.get(d, Decimal(0))) for d in days],
                "backgroundColor": PALETTE[0],
            }
        ],
        currency,
        stacked=False,
    )
