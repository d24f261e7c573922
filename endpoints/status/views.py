"""Pages of status over time: incidents (and acknowledging them), maintenance windows, the
monthly SLA report per workspace (page and CSV)."""

import csv
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from endpoints.network.access import pk_or_404
from endpoints.network.choices import Status
from endpoints.probes.models import ProbeResult
from portal.htmx import wants_fragment
from portal.roles import Perm, has_perm, require
from portal.workspaces.models import Workspace

from . import services, sla
from .forms import AckForm, MaintenanceForm
from .models import Incident, MaintenanceWindow

PAGE = 100
RESULTS_PAGE = 50


def _incidents(user):
    return Incident.objects.for_user(user).select_related("endpoint", "vpc", "acknowledged_by")


@require(Perm.VIEW_ENDPOINTS)
def incident_list(request):
    show = request.GET.get("show", "open")
    queryset = _incidents(request.user)
    if show == "open":
        queryset = queryset.open()
    elif show != "all":
        show = "open"
        queryset = queryset.open()
    return render(
        request,
        "status/incident_list.html",
        {
            "incidents": queryset[:PAGE],
            "show": show,
            "can_ack": has_perm(request.user, Perm.TRIGGER_PROBES),
            "ack_form": AckForm(),
        },
    )


@require(Perm.VIEW_ENDPOINTS)
def incident_detail(request, pk):
    """An incident's story and what the probes found meanwhile: its own counts of every result
    it saw (kept for good), and the raw results still kept (48 h), newest first, paged."""
    incident = get_object_or_404(_incidents(request.user), pk=pk_or_404(pk))
    page = None
    if incident.endpoint_id:
        results = ProbeResult.objects.filter(endpoint_id=incident.endpoint_id)
        # It opened on the last result of a bad streak: its results begin after the last up
        # one before (unknown results do not break a streak), as its counts do.
        last_up = (
            results.filter(
                location=incident.location, status=Status.UP, started_at__lt=incident.opened_at
            )
            .order_by("-started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        raw = results.filter(started_at__lte=incident.closed_at or timezone.now())
        raw = raw.filter(started_at__gt=last_up) if last_up else raw
        raw = raw.order_by("-started_at", "-id")
        page = Paginator(raw, RESULTS_PAGE).get_page(request.GET.get("page"))
    kept_since = timezone.now() - timedelta(hours=settings.PORTAL_PROBE_RETENTION_HOURS)
    return render(
        request,
        "status/incident_detail.html",
        {
            "incident": incident,
            "events": incident.events.select_related("actor"),
            "page": page,
            "results": page.object_list if page else [],
            "pruned": incident.opened_at < kept_since,
            "retention_hours": settings.PORTAL_PROBE_RETENTION_HOURS,
            "can_ack": has_perm(request.user, Perm.TRIGGER_PROBES),
            "ack_form": AckForm(),
        },
    )


@require(Perm.TRIGGER_PROBES)
@require_POST
def incident_ack(request, pk):
    incident = get_object_or_404(_incidents(request.user), pk=pk_or_404(pk))
    form = AckForm(request.POST)
    if form.is_valid():
        try:
            incident = services.acknowledge(
                incident, actor=request.user, note=form.cleaned_data["note"]
            )
        except ValidationError as exc:
            form.add_error("note", exc.message_dict.get("note", exc.messages))
    incident = _incidents(request.user).get(pk=incident.pk)
    if wants_fragment(request):
        return render(
            request,
            "status/_incident_row.html",
            {"incident": incident, "can_ack": True, "ack_form": form},
            status=200 if not form.errors else 422,
        )
    if form.errors:
        messages.error(request, " ".join(form.errors.get("note", ["The note was refused."])))
    else:
        messages.success(request, f"Incident {incident.pk} acknowledged.")
    return redirect(incident)


# -- maintenance --------------------------------------------------------------------------


@require(Perm.VIEW_ENDPOINTS)
def maintenance_list(request):
    can_manage = has_perm(request.user, Perm.MANAGE_ENDPOINTS)
    form = None
    if can_manage:
        form = MaintenanceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            window = form.save(commit=False)
            try:
                services.save_window(window, actor=request.user)
            except ValidationError as exc:
                form._update_errors(exc)
            else:
                messages.success(request, f"Maintenance window '{window.name}' planned.")
                return redirect("maintenance-list")
    elif request.method == "POST":
        raise Http404
    windows = MaintenanceWindow.objects.for_user(request.user).select_related("endpoint", "vpc")
    return render(
        request,
        "status/maintenance_list.html",
        {"windows": windows[:200], "form": form, "can_manage": can_manage},
        status=422 if form is not None and form.errors else 200,
    )


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def maintenance_delete(request, pk):
    window = get_object_or_404(MaintenanceWindow, pk=pk_or_404(pk))
    services.delete_window(window, actor=request.user)
    messages.success(request, f"Maintenance window '{window.name}' deleted.")
    return redirect("maintenance-list")


# -- the SLA report -------------------------------------------------------------------------


def _month(text: str | None) -> datetime:
    now = timezone.now()
    try:
        year, month = (int(part) for part in (text or "").split("-"))
        if not (2000 <= year <= 2100 and 1 <= month <= 12):
            raise ValueError
    except ValueError:
        year, month = now.year, now.month
    return datetime(year, month, 1, tzinfo=UTC)


@require(Perm.VIEW_WORKSPACES)
def sla_report(request, slug):
    workspace = get_object_or_404(Workspace.objects.for_user(request.user), slug=slug)
    month = _month(request.GET.get("month"))
    report = sla.monthly(workspace, month)
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="sla-{workspace.slug}-{month:%Y-%m}.csv"'
        )
        writer = csv.writer(response)
        writer.writerow(
            ["endpoint", "uptime_percent", "downtime_minutes", "known_minutes", "incidents"]
        )
        for row in report.rows:
            writer.writerow(
                [
                    sla.csv_safe(row.name),
                    "" if row.percent is None else f"{row.percent:.3f}",
                    f"{row.down_s / 60:.1f}",
                    f"{row.known_s / 60:.1f}",
                    row.incidents,
                ]
            )
        writer.writerow(
            [
                "TOTAL",
                "" if report.percent is None else f"{report.percent:.3f}",
                f"{report.down_s / 60:.1f}",
                f"{report.known_s / 60:.1f}",
                report.incidents,
            ]
        )
        return response
    return render(
        request,
        "status/sla_report.html",
        {"workspace": workspace, "report": report, "month": month},
    )
