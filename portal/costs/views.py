"""The cost pages: the split (team leads' home), one workspace's breakdown, reconciliation
against the bill, prices, and bill imports. Each CSV export holds exactly the table shown."""

import csv
import re
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from portal.htmx import page_or_fragment
from portal.roles import Perm, has_perm, require
from portal.workspaces.access import get_workspace_for_user
from portal.workspaces.models import Workspace

from . import bills, charts, reports, services
from .forms import BillUploadForm, ColumnMappingForm, PriceForm, RangeForm
from .models import BillImport, ModelPrice, Source, UsageRecord
from .money import api_amount
from .tasks import import_bill
from .templatetags.money import exact, money, percent

WORKSPACE_FIELDS = ("id", "slug", "name", "currency", "monthly_budget", "region_id")


# -- the date range -----------------------------------------------------------------------------


def _range(request, today: date) -> tuple[date, date, RangeForm, list[str]]:
    """The range asked for (this month, last month, a month, or custom), the form showing it,
    and any note about input that could not be used (then: this month)."""
    preset = request.GET.get("range", "")
    notes = []
    if request.GET.get("month") and not preset:  # ?month=YYYY-MM
        text = request.GET["month"]
        try:
            start, end = reports.month_bounds(reports.parse_month(text))
            return start, end, _bound("custom", start, end), notes
        except ValidationError:
            notes.append(f"'{text[:20]}' is not a month such as {today:%Y-%m}; showing this month.")
            preset = "this_month"
    if preset == "custom":
        try:
            start, end = reports.parse_range(request.GET.get("start"), request.GET.get("end"))
            return start, end, _bound("custom", start, end), notes
        except ValidationError as exc:
            notes.extend(f"{m} Showing this month." for m in exc.messages)
            preset = "this_month"
    if preset not in ("this_month", "last_month"):
        if preset:
            notes.append(f"'{preset[:20]}' is not a range; showing this month.")
        preset = "this_month"
    start, end = reports.preset_range(preset, today)
    return start, end, _bound(preset, start, end), notes


def _bound(preset, start, end) -> RangeForm:
    return RangeForm(initial={"range": preset, "start": start.isoformat(), "end": end.isoformat()})


def _range_query(request, start, end) -> str:
    preset = (
        request.GET.get("range")
        if request.GET.get("range") in ("this_month", "last_month")
        else "custom"
    )
    if preset == "custom":
        return f"range=custom&start={start}&end={end}"
    return f"range={preset}"


SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")


def _chosen_workspace(user, slug: str):
    """The workspace a ?workspace= names, if the user may see it: 404 otherwise (also for
    text that cannot be a slug, which never reaches the database)."""
    if not SLUG.fullmatch(slug):
        raise Http404
    return get_workspace_for_user(user, slug)


def _visible_workspaces(user):
    return Workspace.objects.for_user(user).only(*WORKSPACE_FIELDS).order_by("name")


# -- the split ----------------------------------------------------------------------------------


@require(Perm.VIEW_COSTS)
def cost_split(request):
    today = timezone.localdate()
    start, end, form, notes = _range(request, today)
    workspaces = _visible_workspaces(request.user)
    selected = request.GET.get("workspace", "")
    if selected:
        workspaces = [_chosen_workspace(request.user, selected)]  # not yours: 404
    all_visible = not selected and not request.user.is_lead
    try:
        split = reports.cost_split(
            workspaces, start, end, all_visible=all_visible, today=today, daily=True
        )
    except reports.TotalsTooLarge as exc:
        return render(
            request, "costs/cost_split.html", {"error": exc.messages[0], "form": form}, status=400
        )
    if request.GET.get("format") == "csv":
        return _split_csv(split, request.GET.get("table", "workspaces"))
    _show(split, _range_query(request, start, end))
    context = {
        "split": split,
        "form": form,
        "notes": notes,
        "selected": selected,
        "choices": _visible_workspaces(request.user),
        "query": _range_query(request, start, end),
        "charts": [
            {
                "currency": c.currency,
                "daily": charts.daily_by_workspace(c, start, end),
                "models": charts.by_model(c.by_model, c.currency),
            }
            for c in split.currencies
            if c.total
        ],
        "unpriced": sum(line.unpriced for line in split.lines),
        "today": today,
    }
    return render(request, "costs/cost_split.html", context)


def _show(split, query: str) -> None:
    """Each line's cells as text, formatted once here: a table of 200 workspaces through the
    template's filters would cost more than the queries that summed it."""
    base = reverse("cost-workspace", args=["-"])[: -len("-/")]
    for line in split.lines:
        used = line.budget_used
        line.shown = {
            "url": f"{base}{line.workspace.slug}/?{query}",
            "requests": f"{line.requests:,}",
            "input_tokens": f"{line.input_tokens:,}",
            "output_tokens": f"{line.output_tokens:,}",
            "cost": money(line.cost, line.currency),
            "exact": exact(line.cost),
            "share": percent(line.share),
            "used": percent(used, 0) if used is not None else "—",
            "used_class": (
                "text-danger fw-semibold"
                if used is not None and used >= 1
                else "text-warning-emphasis fw-semibold"
                if used is not None and used >= Decimal("0.8")
                else ""
            ),
            "budget": money(line.budget, line.currency),
            "probe": money(line.probe_cost, line.currency) if line.probe_cost else "—",
        }


def _cell(value):
    """A cell a spreadsheet will not run: text starting like a formula gets a leading
    apostrophe (names and reasons come from people and from uploaded files)."""
    if not isinstance(value, str) or value[:1] not in ("=", "+", "@", "\t", "\r", "-"):
        return value
    if value[:1] == "-" and value[1:2].isdigit():  # a negative amount stays a number
        return value
    return "'" + value


def _csv_response(filename: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return response


def _plain(value) -> str:
    return "" if value is None else str(value)


def _split_csv(split, table: str) -> HttpResponse:
    stem = f"cost-split-{split.start}-{split.end}"
    if table == "models":
        return _csv_response(
            f"{stem}-models.csv",
            ["currency", "model", "requests", "input_tokens", "output_tokens", "cost"],
            (
                [
                    c.currency,
                    m["model_name"],
                    m["requests"],
                    m["input_tokens"],
                    m["output_tokens"],
                    api_amount(m["cost"]),
                ]
                for c in split.currencies
                for m in c.by_model
            ),
        )
    return _csv_response(
        f"{stem}.csv",
        [
            "currency",
            "workspace",
            "slug",
            "requests",
            "input_tokens",
            "output_tokens",
            "cost",
            "share",
            "budget",
            "budget_used",
            "probe_overhead",
        ],
        (
            [
                line.currency,
                line.workspace.name,
                line.workspace.slug,
                line.requests,
                line.input_tokens,
                line.output_tokens,
                api_amount(line.cost),
                _plain(line.share),
                _plain(api_amount(line.budget)),
                _plain(line.budget_used),
                api_amount(line.probe_cost),
            ]
            for line in split.lines
        ),
    )


# -- one workspace ------------------------------------------------------------------------------


@require(Perm.VIEW_COSTS)
def workspace_costs(request, slug):
    workspace = get_workspace_for_user(request.user, slug)
    today = timezone.localdate()
    start, end, form, notes = _range(request, today)
    try:
        breakdown = reports.workspace_breakdown(workspace, start, end)
    except reports.TotalsTooLarge as exc:
        messages.error(request, exc.messages[0])
        return redirect("cost-split")
    table = request.GET.get("table", "models")
    if request.GET.get("format") == "csv":
        return _breakdown_csv(breakdown, table)
    status = reports.budget_status([workspace], today).get(workspace.pk)
    context = {
        "workspace": workspace,
        "breakdown": breakdown,
        "form": form,
        "notes": notes,
        "table": table if table in ("models", "keys", "days") else "models",
        "query": _range_query(request, start, end),
        "chart": charts.per_day(breakdown.by_day, start, end, workspace.currency),
        "budget": status,
        "budget_for_range": reports.prorated_budget(workspace.monthly_budget, start, end),
    }
    return render(request, "costs/workspace_costs.html", context)


def _breakdown_csv(breakdown, table: str) -> HttpResponse:
    stem = f"costs-{breakdown.workspace.slug}-{breakdown.start}-{breakdown.end}"
    sums = ["requests", "input_tokens", "output_tokens", "cost"]

    def values(row):
        return [row["requests"], row["input_tokens"], row["output_tokens"], api_amount(row["cost"])]

    if table == "keys":
        return _csv_response(
            f"{stem}-keys.csv", ["key", *sums], ([r["key"], *values(r)] for r in breakdown.by_key)
        )
    if table == "days":
        return _csv_response(
            f"{stem}-days.csv",
            ["day", *sums, "sources"],
            ([r["day"].isoformat(), *values(r), "; ".join(r["sources"])] for r in breakdown.by_day),
        )
    return _csv_response(
        f"{stem}-models.csv",
        ["model", *sums],
        ([r["model_name"], *values(r)] for r in breakdown.by_model),
    )


# -- reconciliation ----------------------------------------------------------------------------


@require(Perm.VIEW_COSTS)
def reconciliation(request):
    today = timezone.localdate()
    notes = []
    text = request.GET.get("month", "")
    month = None
    if text:
        try:
            month = reports.parse_month(text)
        except ValidationError:
            notes.append(f"'{text[:20]}' is not a month such as {today:%Y-%m}.")
    if month is None:
        latest = UsageRecord.objects.filter(source=Source.BILL).aggregate(day=Max("day"))["day"]
        month = (latest or today).replace(day=1)
    workspaces = _visible_workspaces(request.user)
    selected = request.GET.get("workspace", "")
    if selected:
        workspaces = [_chosen_workspace(request.user, selected)]
    try:
        rows = reports.reconciliation(workspaces, month)
    except reports.TotalsTooLarge as exc:
        rows, notes = [], [*notes, exc.messages[0]]
    if request.GET.get("format") == "csv":
        return _csv_response(
            f"reconciliation-{month:%Y-%m}.csv",
            [
                "workspace",
                "slug",
                "currency",
                "bill",
                "estimate",
                "difference",
                "percent",
                "flagged",
                "one_sided",
            ],
            (
                [
                    r.workspace.name,
                    r.workspace.slug,
                    r.currency,
                    api_amount(r.bill),
                    api_amount(r.estimate),
                    api_amount(r.difference),
                    _plain(r.percent),
                    "yes" if r.flagged else "no",
                    "; ".join(f"{e.kind} {e.name}: {e.side}" for e in r.one_sided),
                ]
                for r in rows
            ),
        )
    previous = (month - timedelta(days=1)).replace(day=1)
    following = (month + timedelta(days=32)).replace(day=1)
    _show_reconciliation(rows, month)
    context = {
        "rows": rows,
        "month": month,
        "previous": previous,
        "following": following if following <= today else None,
        "notes": notes,
        "selected": selected,
        "choices": _visible_workspaces(request.user),
        "threshold": settings.PORTAL_RECONCILE_THRESHOLD_PCT,
        "billed": any(r.bill for r in rows),
    }
    return render(request, "costs/reconciliation.html", context)


def _show_reconciliation(rows, month: date) -> None:
    """Each row's cells and explanations as text, formatted once (see `_show`)."""
    first, last = reports.month_bounds(month)
    base = reverse("cost-workspace", args=["-"])[: -len("-/")]
    for r in rows:
        currency = r.currency
        explained = []
        for e in r.one_sided:
            if e.side == "bill only":
                text = f"{money(e.bill, currency)} billed, not metered"
            else:
                text = f"{money(e.estimate, currency)} metered, not in the bill"
            explained.append((e.side, e.kind, e.name, text))
        if r.flagged and not r.one_sided:
            explained.extend(
                (
                    "",
                    "model",
                    e.name,
                    f"{money(e.bill, currency)} billed, {money(e.estimate, currency)} estimated",
                )
                for e in r.models[:3]
            )
        r.shown = {
            "url": f"{base}{r.workspace.slug}/?range=custom&start={first}&end={last}",
            "bill": money(r.bill, currency),
            "bill_exact": exact(r.bill),
            "estimate": money(r.estimate, currency),
            "estimate_exact": exact(r.estimate),
            "difference": money(r.difference, currency),
            "percent": f"{r.percent} %" if r.percent is not None else "—",
            "explained": explained,
        }


# -- prices -------------------------------------------------------------------------------------


@require(Perm.VIEW_COSTS)
def price_list(request):
    prices = list(ModelPrice.objects.select_related("model", "region"))
    today = timezone.localdate()
    in_force = {}
    for price in sorted(prices, key=lambda p: p.effective_from):
        if price.effective_from <= today:
            in_force[(price.model_id, price.region_id)] = price.pk
    for price in prices:
        price.in_force = in_force.get((price.model_id, price.region_id)) == price.pk
    context = {"prices": prices, "can_edit": has_perm(request.user, Perm.MANAGE_COSTS)}
    return render(request, "costs/price_list.html", context)


@require(Perm.MANAGE_COSTS)
def price_create(request):
    copy_of = (
        ModelPrice.objects.filter(pk=request.GET.get("from") or 0).first()
        if request.GET.get("from", "").isdigit()
        else None
    )
    initial = {}
    if copy_of is not None:  # "new price from": the same model and region, from today
        initial = {
            **{name: getattr(copy_of, name) for name in ModelPrice.EDITABLE_FIELDS},
            "model": copy_of.model_id,
            "region": copy_of.region_id,
            "effective_from": timezone.localdate(),
        }
    form = PriceForm(request.POST or None, initial=initial)
    return _price_form(request, form, None)


@require(Perm.MANAGE_COSTS)
def price_edit(request, pk):
    price = get_object_or_404(ModelPrice, pk=pk)
    form = PriceForm(request.POST or None, instance=price)
    return _price_form(request, form, price)


def _price_form(request, form, price):
    if request.method == "POST" and form.is_valid():
        try:
            saved, recosted = services.save_price(form.instance, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Saved {saved}. Re-costed {recosted} usage record{'s' if recosted != 1 else ''}.",
            )
            return redirect("cost-prices")
    status = 422 if form.is_bound and form.errors else 200
    template = page_or_fragment(request, "costs/price_form.html", "price-form")
    return render(request, template, {"form": form, "price": price}, status=status)


@require(Perm.MANAGE_COSTS)
@require_POST
def price_delete(request, pk):
    price = get_object_or_404(ModelPrice, pk=pk)
    label = str(price)
    recosted = services.delete_price(price, actor=request.user)
    messages.success(request, f"Deleted {label}. Re-costed {recosted} usage record(s).")
    return redirect("cost-prices")


# -- bills --------------------------------------------------------------------------------------


@require(Perm.IMPORT_BILLS)
def bill_list(request):
    form = BillUploadForm()
    status = 200
    if request.method == "POST":
        too_big = int(request.META.get("CONTENT_LENGTH") or 0) > bills.MAX_BYTES + 1024 * 1024
        if too_big:  # refused before the body is read
            form.errors["file"] = form.error_class(
                [
                    f"The file is larger than {bills.MAX_BYTES // (1024 * 1024)} MB: export a shorter period."
                ]
            )
            status = 422
        else:
            form = BillUploadForm(request.POST, request.FILES)
            if form.is_valid():
                upload = form.cleaned_data["file"]
                try:
                    bill_import = services.upload_bill(
                        upload.read(), upload.name, actor=request.user
                    )
                except ValidationError as exc:
                    for message in exc.messages:
                        form.add_error("file", message)
                else:
                    return redirect("cost-bill", pk=bill_import.pk)
            status = 422
    imports = (
        BillImport.objects.for_user(request.user)
        .defer("content", "preview")
        .select_related("uploaded_by")[:25]
    )
    return render(
        request, "costs/bill_list.html", {"form": form, "imports": imports}, status=status
    )


def _bill(request, pk, *, content=False) -> BillImport:
    """The import, if it is the user's to see (a lead's own uploads; an admin's: all)."""
    imports = BillImport.objects.for_user(request.user)
    return get_object_or_404(imports if content else imports.defer("content"), pk=pk)


@require(Perm.IMPORT_BILLS)
def bill_detail(request, pk):
    bill_import = _bill(request, pk)
    mapping_form = ColumnMappingForm(
        header=bill_import.preview.get("header", []), mapping=bill_import.mapping
    )
    return render(
        request, "costs/bill_detail.html", {"bill": bill_import, "mapping_form": mapping_form}
    )


@require(Perm.IMPORT_BILLS)
@require_POST
def bill_mapping(request, pk):
    bill_import = _bill(request, pk, content=True)
    form = ColumnMappingForm(
        request.POST, header=bill_import.preview.get("header", []), mapping=bill_import.mapping
    )
    if form.is_valid():
        try:
            services.map_bill_columns(bill_import, form.cleaned_data, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    else:
        messages.error(request, "Choose columns the file has.")
    return redirect("cost-bill", pk=pk)


@require(Perm.IMPORT_BILLS)
@require_POST
def bill_confirm(request, pk):
    bill_import = _bill(request, pk, content=True)
    queued = services.confirm_bill_import(
        bill_import, actor=request.user, enqueue=lambda import_id: import_bill.delay(import_id)
    )
    if not queued:
        bill_import.refresh_from_db()
        if bill_import.status == BillImport.Status.PREVIEW:
            messages.error(
                request,
                bill_import.error
                or "This bill cannot be imported as it is: see the rows listed below.",
            )
    return redirect("cost-bill", pk=pk)


@require(Perm.IMPORT_BILLS)
def bill_progress(request, pk):
    """The import's progress (polled by htmx until it ends)."""
    return render(request, "costs/bill_detail.html#bill-progress", {"bill": _bill(request, pk)})


@require(Perm.IMPORT_BILLS)
def bill_problems_csv(request, pk):
    """Every row of the file that does not map, with its reason (the page lists the first)."""
    bill_import = _bill(request, pk, content=True)
    problems = bill_import.preview.get("problems", [])
    if bill_import.content:
        try:
            prepared = services.prepare_bill(
                bytes(bill_import.content),
                bill_import.mapping,
                services.importable_workspaces(bill_import.uploaded_by),
            )
            problems = [{"row": p.number, "reason": p.reason} for p in prepared.problems]
        except bills.BillError:
            pass
    return _csv_response(
        f"unmapped-rows-{bill_import.pk}.csv",
        ["row", "reason"],
        ([p["row"], p["reason"]] for p in problems),
    )
