"""The audit log page: every change, filtered by who, what and when."""

from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.dateparse import parse_date

from portal.htmx import page_or_fragment
from portal.roles import Perm, require

from .models import AuditEntry


@require(Perm.VIEW_AUDIT)
def audit_list(request):
    entries = AuditEntry.objects.all()
    filters = {
        "actor": request.GET.get("actor", "").strip(),
        "action": request.GET.get("action", "").strip(),
        "target_type": request.GET.get("target_type", "").strip(),
        "q": request.GET.get("q", "").strip(),
        "since": request.GET.get("since", "").strip(),
        "until": request.GET.get("until", "").strip(),
    }
    if filters["actor"]:
        entries = entries.filter(actor_label=filters["actor"])
    ignored = []
    if filters["action"] and filters["action"] not in AuditEntry.Action.values:
        ignored.append(
            f"'{filters['action'][:60]}' is not an action; the action filter was ignored."
        )
        filters["action"] = ""
    if filters["action"]:
        entries = entries.filter(action=filters["action"])
    if filters["target_type"]:
        entries = entries.filter(target_type=filters["target_type"])
    if filters["q"]:
        entries = entries.filter(target_repr__icontains=filters["q"])
    for name, lookup in (("since", "created_at__date__gte"), ("until", "created_at__date__lte")):
        if not filters[name]:
            continue
        try:
            day = parse_date(filters[name])
        except ValueError:  # a well-formed but impossible date, such as 2026-02-30
            day = None
        if day is None:
            ignored.append(
                f"'{filters[name]}' is not a date (YYYY-MM-DD); the {name} filter was ignored."
            )
            filters[name] = ""
        else:
            entries = entries.filter(**{lookup: day})
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "actions": AuditEntry.Action.choices,
        "actors": AuditEntry.objects.order_by().values_list("actor_label", flat=True).distinct(),
        "target_types": AuditEntry.objects.order_by()
        .values_list("target_type", flat=True)
        .distinct(),
        "ignored": ignored,
    }
    return render(
        request, page_or_fragment(request, "audit/audit_list.html", "audit-table"), context
    )
