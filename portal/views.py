"""Core pages: the landing redirect, the profile with API tokens, and the audit log."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.http import require_POST

from . import audit
from .htmx import page_or_fragment
from .models import ApiToken, AuditEntry
from .roles import Perm, home_url_name, require


@login_required
def home(request):
    return redirect(home_url_name(request.user))


@login_required
def profile(request):
    tokens = request.user.api_tokens.all()
    return render(request, "portal/profile.html", {"tokens": tokens})


@login_required
@require_POST
def token_create(request):
    name = request.POST.get("name", "").strip()
    tokens = request.user.api_tokens.all()
    if not name or len(name) > 100:
        return render(
            request,
            "portal/profile.html#token-section",
            {
                "tokens": tokens,
                "name_error": "Give the token a name of up to 100 characters.",
                "name": name,
            },
            status=400 if not request.htmx else 200,
        )
    token, plaintext = ApiToken.issue(request.user, name)
    audit.record(request.user, "create", token)
    return render(
        request,
        "portal/profile.html#token-section",
        {"tokens": request.user.api_tokens.all(), "new_token": plaintext, "new_token_row": token},
    )


@login_required
@require_POST
def token_revoke(request, pk):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token.revoked_at is None:
        before = {"revoked_at": None}
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(
            request.user,
            "revoke",
            token,
            before=before,
            after={"revoked_at": token.revoked_at.isoformat()},
        )
        messages.success(request, f"Token '{token.name}' revoked; it no longer works.")
    if request.htmx:
        return render(
            request, "portal/profile.html#token-section", {"tokens": request.user.api_tokens.all()}
        )
    return redirect("profile")


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
    if filters["action"]:
        entries = entries.filter(action=filters["action"])
    if filters["target_type"]:
        entries = entries.filter(target_type=filters["target_type"])
    if filters["q"]:
        entries = entries.filter(target_repr__icontains=filters["q"])
    ignored = []
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
        request, page_or_fragment(request, "portal/audit_list.html", "audit-table"), context
    )
