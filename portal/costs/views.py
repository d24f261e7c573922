"""Team leads' view: usage and the cost split between workspaces, by model and by day."""

import calendar
import csv
import json
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from portal.roles import Perm, require
from portal.workspaces.models import Workspace

from .models import UsageRecord

PALETTE = [
    "#0d6efd",
    "#fd7e14",
    "#20c997",
    "#6f42c1",
    "#d63384",
    "#198754",
    "#ffc107",
    "#0dcaf0",
    "#6c757d",
]


def _month(request) -> tuple[date, str | None]:
    """The month asked for (YYYY-MM), or this month and why the request was not usable."""
    this_month = timezone.localdate().replace(day=1)
    text = request.GET.get("month", "")
    if not text:
        return this_month, None
    try:
        year, month = (int(part) for part in text.split("-"))
        if not 2000 <= year <= this_month.year + 1:
            raise ValueError
        return date(year, month, 1), None
    except ValueError:
        return (
            this_month,
            f"'{text}' is not a month such as {this_month:%Y-%m}; showing this month.",
        )


def cost_split(start: date, end: date, workspaces):
    """Usage rows of `workspaces` between start and end, aggregated three ways."""
    usage = UsageRecord.objects.filter(workspace__in=workspaces, day__gte=start, day__lte=end)
    sums = {
        "requests": Sum("requests"),
        "input_tokens": Sum("input_tokens"),
        "output_tokens": Sum("output_tokens"),
        "cost": Sum("cost"),
    }
    by_workspace = list(
        usage.values(
            "workspace_id",
            "workspace__name",
            "workspace__slug",
            "workspace__monthly_budget",
            "currency",
        )
        .annotate(**sums)
        .order_by("currency", "-cost")
    )
    for row in by_workspace:
        budget = row["workspace__monthly_budget"]
        row["budget_pct"] = round(100 * row["cost"] / budget) if budget else None
    by_model = list(
        usage.values("model_name", "currency").annotate(**sums).order_by("currency", "-cost")
    )
    by_day = list(
        usage.values("day", "workspace__name", "currency")
        .annotate(cost=Sum("cost"))
        .order_by("day")
    )
    return usage, by_workspace, by_model, by_day


def _daily_charts(by_day, start: date, end: date) -> list[dict]:
    """One stacked bar chart per currency: cost per day, split by workspace."""
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    charts = []
    for currency in sorted({row["currency"] for row in by_day}):
        names = sorted({row["workspace__name"] for row in by_day if row["currency"] == currency})
        values = {
            (r["day"], r["workspace__name"]): float(r["cost"])
            for r in by_day
            if r["currency"] == currency
        }
        datasets = [
            {
                "label": name,
                "data": [round(values.get((d, name), 0), 4) for d in days],
                "backgroundColor": PALETTE[i % len(PALETTE)],
                "stack": "cost",
            }
            for i, name in enumerate(names)
        ]
        charts.append(
            {
                "currency": currency,
                "config": json.dumps(
                    {
                        "type": "bar",
                        "data": {
                            "labels": [d.strftime("%d %b") for d in days],
                            "datasets": datasets,
                        },
                        "options": {
                            "scales": {
                                "x": {"stacked": True},
                                "y": {
                                    "stacked": True,
                                    "title": {"display": True, "text": currency},
                                },
                            },
                            "plugins": {
                                "legend": {"position": "bottom", "labels": {"boxWidth": 10}}
                            },
                        },
                    }
                ),
            }
        )
    return charts


@require(Perm.VIEW_COSTS)
def cost_view(request):
    start, month_note = _month(request)
    end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    workspaces = Workspace.objects.for_user(request.user)
    notes = [month_note] if month_note else []
    selected = request.GET.get("workspace", "")
    if selected:
        if workspaces.filter(slug=selected).exists():
            workspaces = workspaces.filter(slug=selected)
        else:
            notes.append(f"'{selected}' is not one of your workspaces; showing all of them.")
            selected = ""
    usage, by_workspace, by_model, by_day = cost_split(start, end, workspaces)
    if request.GET.get("format") == "csv":
        return _csv(usage, start)
    totals: dict[str, Decimal] = {}
    for row in by_workspace:
        totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + row["cost"]
    previous = (start - timedelta(days=1)).replace(day=1)
    following = end + timedelta(days=1)
    context = {
        "start": start,
        "end": end,
        "previous": previous.strftime("%Y-%m"),
        "next": following.strftime("%Y-%m") if following <= timezone.localdate() else None,
        "month": start.strftime("%Y-%m"),
        "by_workspace": by_workspace,
        "by_model": by_model,
        "totals": sorted(totals.items()),
        "charts": _daily_charts(by_day, start, end),
        "workspaces": Workspace.objects.for_user(request.user).only("slug", "name"),
        "selected": selected,
        "notes": notes,
    }
    return render(request, "costs/cost_split.html", context)


def _csv(usage, start: date) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="cost-split-{start:%Y-%m}.csv"'
    writer = csv.writer(response)
    writer.writerow(
        [
            "day",
            "workspace",
            "workspace_id",
            "model",
            "requests",
            "input_tokens",
            "output_tokens",
            "cost",
            "currency",
            "source",
        ]
    )
    for row in usage.select_related("workspace").order_by("day", "workspace__name", "model_name"):
        writer.writerow(
            [
                row.day.isoformat(),
                row.workspace.name,
                row.workspace.workspace_id,
                row.model_name,
                row.requests,
                row.input_tokens,
                row.output_tokens,
                row.cost,
                row.currency,
                row.source,
            ]
        )
    return response
