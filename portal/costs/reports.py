"""Reading usage: the cost split, one workspace's breakdown, reconciliation, budgets.

Every figure is summed by the database from the daily rollups (`UsageRecord`) and handled as
`Decimal`. The ledger rule (see services): money and tokens count the bill where it covers a
workspace's day and the metered usage elsewhere (`COUNTED`); requests are counted by the
metered sources only (the bill does not count requests), so they always add up.
"""

import calendar
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DataError, OperationalError
from django.db.models import Count, Q, Sum

from portal.workspaces.choices import Currency
from portal.workspaces.models import ApiKey, Workspace

from .models import METERED, BudgetAlert, Source, UsageRecord
from .money import fraction

COUNTED = Q(superseded=False)
MAX_RANGE_DAYS = 731  # two years: a year-on-year view, and a bound on the work per request
ZERO = Decimal(0)


# -- dates --------------------------------------------------------------------------------------


def month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def preset_range(name: str, today: date) -> tuple[date, date]:
    """ "this_month" or "last_month": whole calendar months (the budget is monthly)."""
    if name == "last_month":
        return month_bounds(today.replace(day=1) - timedelta(days=1))
    return month_bounds(today)


def parse_day(text, name: str) -> date:
    if not isinstance(text, str) or len(text) != 10:
        raise ValidationError({name: [f"Give the {name} date as YYYY-MM-DD, e.g. 2026-01-31."]})
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            {name: [f"'{text[:20]}' is not a date: give YYYY-MM-DD, e.g. 2026-01-31."]}
        ) from None
    if not 2000 <= day.year <= 2100:
        raise ValidationError({name: ["Give a date between 2000 and 2100."]})
    return day


def parse_month(text) -> date:
    """The first day of a YYYY-MM month; ValidationError naming "month" otherwise."""
    if not isinstance(text, str) or len(text) != 7:
        raise ValidationError({"month": ["Give the month as YYYY-MM, e.g. 2026-01."]})
    try:
        return parse_day(f"{text}-01", "month")
    except ValidationError:
        raise ValidationError(
            {"month": [f"'{text[:20]}' is not a month: give YYYY-MM, e.g. 2026-01."]}
        ) from None


def parse_range(start_text, end_text) -> tuple[date, date]:
    """An inclusive range from two YYYY-MM-DD strings; ValidationError by field otherwise."""
    errors = {}
    days = {}
    for name, text in (("start", start_text), ("end", end_text)):
        try:
            days[name] = parse_day(text, name)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    start, end = days["start"], days["end"]
    if end < start:
        raise ValidationError({"end": [f"The end ({end}) is before the start ({start})."]})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise ValidationError({"end": [f"Ask for at most {MAX_RANGE_DAYS} days at a time."]})
    return start, end


def prorated_budget(monthly: Decimal | None, start: date, end: date) -> Decimal | None:
    """The monthly budget over a range: whole months count whole, part months by their days."""
    if not monthly:
        return None
    total, cursor = ZERO, start
    while cursor <= end:
        first, last = month_bounds(cursor)
        stop = min(last, end)
        days_in_month = (last - first).days + 1
        total += monthly * Decimal((stop - cursor).days + 1) / days_in_month
        cursor = stop + timedelta(days=1)
    return total


class TotalsTooLarge(ValidationError):
    pass


def _safe(run):
    """Run an aggregate; an overflowing sum (only absurd input can cause one) is a clear
    refusal, not a 500."""
    try:
        return run()
    except (OverflowError, DataError, OperationalError) as exc:
        if "overflow" not in str(exc).lower() and not isinstance(exc, OverflowError):
            raise
        raise TotalsTooLarge(
            "The totals are too large to add up; check the imported figures."
        ) from None


def _rows(queryset) -> list[dict]:
    return _safe(lambda: list(queryset))


def _usage(workspace_ids, start: date, end: date):
    usage = UsageRecord.objects.filter(day__gte=start, day__lte=end)
    if workspace_ids is not None:
        usage = usage.filter(workspace_id__in=workspace_ids)
    return usage


# Aliased apart from the fields they sum (an annotation may not shadow a field).
SUMS = {
    "sum_requests": Sum("requests"),
    "sum_input_tokens": Sum("input_tokens", filter=COUNTED),
    "sum_output_tokens": Sum("output_tokens", filter=COUNTED),
    "sum_cost": Sum("cost", filter=COUNTED),
}


def _clean(row: dict) -> dict:
    """The sums under their plain names, zero where nothing was summed."""
    for name in ("requests", "input_tokens", "output_tokens"):
        row[name] = row.pop(f"sum_{name}", None) or 0
    row["cost"] = row.pop("sum_cost", None) or ZERO
    return row


# -- the split ------------------------------------------------------------------------------------


@dataclass
class WorkspaceLine:
    workspace: Workspace
    currency: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: Decimal = ZERO
    probe_cost: Decimal = ZERO
    unpriced: int = 0
    share: Decimal | None = None
    budget: Decimal | None = None
    budget_used: Decimal | None = None
    by_model: list[dict] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class CurrencySplit:
    currency: str
    total: Decimal
    lines: list[WorkspaceLine]
    by_model: list[dict]
    daily: list[dict]  # {"day", "workspace_id", "cost"}

    @property
    def probe_cost(self) -> Decimal:
        """The probes' own billed calls (our estimate), included in the total: overhead."""
        return sum((line.probe_cost for line in self.lines), ZERO)


@dataclass
class Split:
    start: date
    end: date
    currencies: list[CurrencySplit]

    @property
    def totals(self) -> dict[str, Decimal]:
        found = {c.currency: c.total for c in self.currencies}
        return {currency: found.get(currency, ZERO) for currency in Currency.values}

    @property
    def lines(self) -> list[WorkspaceLine]:
        return [line for c in self.currencies for line in c.lines]

    @property
    def has_usage(self) -> bool:
        return any(line.cost or line.requests or line.input_tokens for line in self.lines)


def cost_split(
    workspaces, start: date, end: date, *, all_visible: bool, today: date | None, daily=False
) -> Split:
    """Per currency (never adding CNY to USD): each workspace's usage, cost, share of its
    currency's total and budget use, with its cost by model (and, with `daily`, by day for
    the chart: the biggest spenders apart, the others together).

    `workspaces` is what the user may see; `all_visible` skips the filter when that is every
    workspace (an admin), which keeps the query on the day index alone.
    """
    workspaces = list(workspaces)
    by_id = {w.pk: w for w in workspaces}
    usage = _usage(None if all_visible else list(by_id), start, end)
    per_model = _rows(
        usage.values("workspace_id", "model_name", "currency")
        .annotate(
            **SUMS,
            probe_cost=Sum("cost", filter=Q(source=Source.PROBE)),
            unpriced=Count("id", filter=Q(priced=False)),
        )
        .order_by()
    )
    lines: dict[tuple, WorkspaceLine] = {}
    for row in per_model:
        workspace = by_id.get(row["workspace_id"])
        if workspace is None:
            continue
        _clean(row)
        line = lines.get((workspace.pk, row["currency"]))
        if line is None:
            line = lines[(workspace.pk, row["currency"])] = WorkspaceLine(
                workspace, row["currency"]
            )
        line.requests += row["requests"]
        line.input_tokens += row["input_tokens"]
        line.output_tokens += row["output_tokens"]
        line.cost += row["cost"]
        line.probe_cost += row["probe_cost"] or ZERO
        line.unpriced += row["unpriced"]
        line.by_model.append(
            {k: row[k] for k in ("model_name", "cost", "input_tokens", "output_tokens", "requests")}
        )
    seen = {pk for pk, _ in lines}
    for workspace in workspaces:  # every visible workspace has a line, used or not
        if workspace.pk not in seen:
            lines[(workspace.pk, workspace.currency)] = WorkspaceLine(workspace, workspace.currency)
    statuses = budget_status(workspaces, today) if today else {}
    currencies = []
    for currency in sorted({line.currency for line in lines.values()}):
        chosen = [line for line in lines.values() if line.currency == currency]
        total = sum((line.cost for line in chosen), ZERO)
        for line in chosen:
            line.share = fraction(line.cost, total) if total else Decimal("0.0000")
            line.by_model.sort(key=lambda m: (-m["cost"], m["model_name"]))
            if line.workspace.currency == currency:
                line.budget = prorated_budget(line.workspace.monthly_budget, start, end)
                line.budget_used = fraction(line.cost, line.budget)
                status = statuses.get(line.workspace.pk)
                line.flags = status.crossed if status else []
        chosen.sort(key=lambda line: (-line.cost, line.workspace.name))
        currencies.append(
            CurrencySplit(
                currency=currency,
                total=total,
                lines=chosen,
                by_model=_models_of(chosen),
                daily=[],
            )
        )
    if daily:
        _add_daily(currencies, usage)
    return Split(start=start, end=end, currencies=currencies)


STACKED_WORKSPACES = 8  # the chart gives the biggest spenders a colour each, the rest "Other"


def _models_of(lines) -> list[dict]:
    models: dict[str, dict] = {}
    for line in lines:
        for row in line.by_model:
            entry = models.setdefault(
                row["model_name"],
                {
                    "model_name": row["model_name"],
                    "cost": ZERO,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "requests": 0,
                },
            )
            for key in ("cost", "input_tokens", "output_tokens", "requests"):
                entry[key] += row[key]
    return sorted(models.values(), key=lambda m: (-m["cost"], m["model_name"]))


def _add_daily(currencies, usage) -> None:
    """Each currency's cost per day: the top spenders by workspace, the others summed (a
    year of 200 workspaces would otherwise be 73,000 points nobody can read)."""
    top = {
        line.workspace.pk
        for c in currencies
        for line in [line for line in c.lines if line.cost][:STACKED_WORKSPACES]
    }
    counted = usage.filter(COUNTED)
    apart = _rows(
        counted.filter(workspace_id__in=top)
        .values("day", "workspace_id", "currency")
        .annotate(day_cost=Sum("cost"))
        .order_by("day")
    )
    rest = _rows(
        counted.exclude(workspace_id__in=top)
        .values("day", "currency")
        .annotate(day_cost=Sum("cost"))
        .order_by("day")
    )
    for c in currencies:
        c.daily = [r for r in apart if r["currency"] == c.currency] + [
            {**r, "workspace_id": None} for r in rest if r["currency"] == c.currency
        ]


# -- one workspace ------------------------------------------------------------------------------


def key_labels(key_ids) -> dict[str, str]:
    """Model Studio key IDs → the stored key's fingerprint, where a key carries that ID."""
    return dict(
        ApiKey.objects.filter(key_id__in=set(key_ids) - {""}).values_list("key_id", "fingerprint")
    )


def key_label(fingerprint: str, key_id: str, labels: dict[str, str]) -> str:
    if fingerprint:
        return fingerprint
    if key_id:
        return labels.get(key_id) or f"key ID {key_id} (not linked to a stored key)"
    return "no key (console calls or probes)"


@dataclass
class Breakdown:
    workspace: Workspace
    start: date
    end: date
    by_model: list[dict]
    by_key: list[dict]
    by_day: list[dict]
    total: Decimal
    probe_cost: Decimal


def workspace_breakdown(workspace: Workspace, start: date, end: date) -> Breakdown:
    """One workspace over a range: by model, by key (fingerprint) and by day, with each
    day's sources (bill, ingest API, probes)."""
    usage = _usage([workspace.pk], start, end)
    by_model = [_clean(r) for r in _rows(usage.values("model_name").annotate(**SUMS).order_by())]
    by_model.sort(key=lambda r: (-r["cost"], r["model_name"]))
    raw_keys = _rows(usage.values("key_fingerprint", "key_id").annotate(**SUMS).order_by())
    labels = key_labels(r["key_id"] for r in raw_keys)
    keys: dict[str, dict] = {}
    for row in raw_keys:
        _clean(row)
        label = key_label(row["key_fingerprint"], row["key_id"], labels)
        entry = keys.setdefault(
            label,
            {"key": label, "cost": ZERO, "input_tokens": 0, "output_tokens": 0, "requests": 0},
        )
        for name in ("cost", "input_tokens", "output_tokens", "requests"):
            entry[name] += row[name]
    by_key = sorted(keys.values(), key=lambda r: (-r["cost"], r["key"]))
    days: dict[date, dict] = {}
    for row in _rows(
        usage.values("day", "source")
        .annotate(**SUMS, superseded_rows=Count("id", filter=Q(superseded=True)))
        .order_by("day")
    ):
        _clean(row)
        entry = days.setdefault(
            row["day"],
            {
                "day": row["day"],
                "cost": ZERO,
                "input_tokens": 0,
                "output_tokens": 0,
                "requests": 0,
                "sources": [],
            },
        )
        for name in ("cost", "input_tokens", "output_tokens", "requests"):
            entry[name] += row[name]
        entry["sources"].append(
            Source(row["source"]).label
            + (" (superseded by the bill)" if row["superseded_rows"] else "")
        )
    totals = _safe(
        lambda: usage.aggregate(
            total=Sum("cost", filter=COUNTED), probe=Sum("cost", filter=Q(source=Source.PROBE))
        )
    )
    return Breakdown(
        workspace=workspace,
        start=start,
        end=end,
        by_model=by_model,
        by_key=by_key,
        by_day=list(days.values()),
        total=totals["total"] or ZERO,
        probe_cost=totals["probe"] or ZERO,
    )


# -- reconciliation -------------------------------------------------------------------------------


@dataclass
class Explanation:
    """One model or key, with what each side says about it."""

    kind: str  # "model" or "key"
    name: str
    bill: Decimal
    estimate: Decimal
    side: str  # "both", "bill only", "metered only"

    @property
    def difference(self) -> Decimal:
        return self.bill - self.estimate


@dataclass
class Reconciliation:
    workspace: Workspace
    currency: str
    month: date
    bill: Decimal
    estimate: Decimal
    unpriced: int
    models: list[Explanation]
    keys: list[Explanation]

    @property
    def difference(self) -> Decimal:
        return self.bill - self.estimate

    @property
    def percent(self) -> Decimal | None:
        """The difference as a percentage of the bill (None when the bill is nothing)."""
        if not self.bill:
            return None
        return (100 * self.difference / self.bill).quantize(Decimal("0.01"))

    @property
    def flagged(self) -> bool:
        threshold = Decimal(str(settings.PORTAL_RECONCILE_THRESHOLD_PCT))
        if self.percent is None:
            return self.estimate != 0
        return abs(self.percent) >= threshold

    @property
    def one_sided(self) -> list[Explanation]:
        return [e for e in (*self.models, *self.keys) if e.side != "both"]


def _explanations(kind, bill: dict, metered: dict) -> list[Explanation]:
    names = sorted(set(bill) | set(metered))
    found = [
        Explanation(
            kind,
            name,
            bill.get(name, ZERO),
            metered.get(name, ZERO),
            "both"
            if name in bill and name in metered
            else ("bill only" if name in bill else "metered only"),
        )
        for name in names
    ]
    return sorted(found, key=lambda e: (-abs(e.difference), e.name))


def reconciliation(workspaces, month: date) -> list[Reconciliation]:
    """Per workspace for one month: the bill's amount against our estimate from metered
    usage (the ingest API and the probes) at our prices, and the models and keys that
    appear on one side only."""
    first, last = month_bounds(month)
    workspaces = {w.pk: w for w in workspaces}
    usage = _usage(list(workspaces), first, last)
    rows = _rows(
        usage.values(
            "workspace_id", "currency", "source", "model_name", "key_fingerprint", "key_id"
        )
        .annotate(sum_cost=Sum("cost"), unpriced=Count("id", filter=Q(priced=False)))
        .order_by()
    )
    labels = key_labels(r["key_id"] for r in rows)
    sides: dict[tuple, dict] = {}
    for row in rows:
        workspace = workspaces.get(row["workspace_id"])
        if workspace is None:
            continue
        entry = sides.setdefault(
            (workspace.pk, row["currency"]),
            {
                "bill": defaultdict(lambda: ZERO),
                "metered": defaultdict(lambda: ZERO),
                "bill_keys": defaultdict(lambda: ZERO),
                "metered_keys": defaultdict(lambda: ZERO),
                "unpriced": 0,
            },
        )
        side = "bill" if row["source"] == Source.BILL else "metered"
        cost = row["sum_cost"] or ZERO
        entry[side][row["model_name"]] += cost
        entry[f"{side}_keys"][key_label(row["key_fingerprint"], row["key_id"], labels)] += cost
        if row["source"] in METERED:
            entry["unpriced"] += row["unpriced"]
    result = []
    for (workspace_id, currency), entry in sides.items():
        result.append(
            Reconciliation(
                workspace=workspaces[workspace_id],
                currency=currency,
                month=first,
                bill=sum(entry["bill"].values(), ZERO),
                estimate=sum(entry["metered"].values(), ZERO),
                unpriced=entry["unpriced"],
                models=_explanations("model", entry["bill"], entry["metered"]),
                keys=_explanations("key", entry["bill_keys"], entry["metered_keys"]),
            )
        )
    return sorted(result, key=lambda r: (r.currency, -abs(r.difference), r.workspace.name))


# -- budgets --------------------------------------------------------------------------------------


@dataclass
class BudgetStatus:
    workspace: Workspace
    month: date
    budget: Decimal
    spend: Decimal
    projected: Decimal
    crossed: list[str]  # BudgetAlert.Threshold values

    @property
    def used(self) -> Decimal | None:
        return fraction(self.spend, self.budget)


def budget_status(workspaces, today: date) -> dict[int, BudgetStatus]:
    """This month's spend of each workspace with a budget, its projection at the run rate,
    and the thresholds it has reached. One rule for every threshold: spend (or projected
    spend) >= the threshold."""
    budgeted = {w.pk: w for w in workspaces if w.monthly_budget and w.monthly_budget > 0}
    if not budgeted:
        return {}
    first, last = month_bounds(today)
    spend = defaultdict(lambda: ZERO)
    for row in _rows(
        _usage(list(budgeted), first, last)
        .filter(COUNTED)
        .values("workspace_id", "currency")
        .annotate(month_cost=Sum("cost"))
        .order_by()
    ):
        if row["currency"] == budgeted[row["workspace_id"]].currency:
            spend[row["workspace_id"]] += row["month_cost"] or ZERO
    days_in_month = (last - first).days + 1
    elapsed = min(max((today - first).days + 1, 1), days_in_month)
    statuses = {}
    for pk, workspace in budgeted.items():
        budget = Decimal(workspace.monthly_budget)
        spent = spend[pk]
        projected = (spent * days_in_month / elapsed).quantize(Decimal("0.00000001"))
        crossed = [
            threshold
            for threshold, reached in (
                (BudgetAlert.Threshold.WARN, spent >= budget * Decimal("0.8")),
                (BudgetAlert.Threshold.FULL, spent >= budget),
                (BudgetAlert.Threshold.FORECAST, projected >= budget),
            )
            if reached
        ]
        statuses[pk] = BudgetStatus(workspace, first, budget, spent, projected, crossed)
    return statuses
