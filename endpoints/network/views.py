"""VPC and endpoint pages: registry list, registration with htmx, detail with checklist and snippets."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from endpoints.engine.hosts import KIND_HOST_HINT, find_url, parse_url
from portal.forms import style_widgets
from portal.htmx import page_or_fragment
from portal.roles import Perm, require
from portal.workspaces.models import Region, Workspace

from . import services
from .access import get_endpoint_for_user, get_vpc_for_user
from .choices import ApiStyle, Kind, Status
from .filters import clean_filters, filter_endpoints
from .forms import EndpointForm, VpcForm
from .models import SEVERITY, Endpoint, Vpc

# -- VPCs -------------------------------------------------------------------------------------


@require(Perm.VIEW_ENDPOINTS)
def vpc_list(request):
    vpcs = (
        Vpc.objects.for_user(request.user)
        .select_related("region")
        .annotate(endpoint_count=Count("endpoints", distinct=True))
        .prefetch_related("connected_vpcs")
    )
    return render(request, "network/vpc_list.html", {"vpcs": vpcs})


@require(Perm.MANAGE_ENDPOINTS)
def vpc_create(request):
    form = style_widgets(VpcForm(request.POST or None))
    vpc = _save_vpc(request, form) if request.method == "POST" and form.is_valid() else None
    if vpc is not None:
        messages.success(request, f"VPC {vpc.vpc_id} registered.")
        return redirect("vpc-detail", pk=vpc.pk)
    return _vpc_form(request, form, None)


@require(Perm.MANAGE_ENDPOINTS)
def vpc_edit(request, pk):
    vpc = get_vpc_for_user(request.user, pk)
    form = style_widgets(VpcForm(request.POST or None, instance=vpc))
    if request.method == "POST" and form.is_valid() and _save_vpc(request, form):
        messages.success(request, f"Saved {vpc.vpc_id}.")
        return redirect("vpc-detail", pk=vpc.pk)
    return _vpc_form(request, form, vpc)


def _save_vpc(request, form):
    """The VPC saved by the service, or None with the service's errors on the form."""
    try:
        return services.save_vpc(
            form.instance, list(form.cleaned_data.get("connected_vpcs") or []), actor=request.user
        )
    except ValidationError as exc:
        form._update_errors(exc)
        return None


def _vpc_form(request, form, vpc):
    status = 422 if form.is_bound and form.errors else 200
    return render(request, "network/vpc_form.html", {"form": form, "vpc": vpc}, status=status)


@require(Perm.VIEW_ENDPOINTS)
def vpc_detail(request, pk):
    vpc = get_vpc_for_user(request.user, pk)
    endpoints = vpc.endpoints.select_related("region", "workspace").order_by("name")
    return render(
        request,
        "network/vpc_detail.html",
        {
            "vpc": vpc,
            "endpoints": endpoints,
            "connected": vpc.connected_vpcs.select_related("region"),
        },
    )


@require(Perm.MANAGE_ENDPOINTS)
def vpc_delete(request, pk):
    vpc = get_vpc_for_user(request.user, pk)
    in_use = vpc.endpoints.count() + vpc.hosted_endpoints.count()
    if in_use:
        messages.error(
            request, f"{vpc.vpc_id} is used by {in_use} endpoint(s); move or delete them first."
        )
        return redirect("vpc-detail", pk=pk)
    if request.method == "POST":
        vpc_id = vpc.vpc_id
        try:
            services.delete_vpc(vpc, actor=request.user)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("vpc-detail", pk=pk)
        messages.success(request, f"VPC {vpc_id} deleted.")
        return redirect("vpc-list")
    return render(request, "components/confirm_delete.html", {"object": vpc, "kind": "VPC"})


# -- endpoint list ------------------------------------------------------------------------

SORTS = {
    "name": "name",
    "-name": "-name",
    "status": "-severity",  # worst first
    "-status": "severity",
    "region": "region_id",
    "-region": "-region_id",
    "kind": "kind",
    "-kind": "-kind",
    "latency": "last_total_ms",
    "-latency": "-last_total_ms",
    "probed": "last_probe_at",
    "-probed": "-last_probe_at",
}
PAGE_SIZE = 50


@require(Perm.VIEW_ENDPOINTS)
def endpoint_list(request):
    params, problems = clean_filters(request.GET)
    ignored = [f"{' '.join(m)} The {name} filter was ignored." for name, m in problems.items()]
    sort = request.GET.get("sort", "name")
    if sort not in SORTS:
        ignored.append(f"'{sort[:60]}' is not a column to sort by; sorted by name.")
        sort = "name"
    endpoints = filter_endpoints(Endpoint.objects.for_user(request.user), params)
    endpoints = endpoints.select_related("region", "vpc", "workspace").annotate(severity=SEVERITY)
    endpoints = endpoints.order_by(SORTS.get(sort, "name"), "pk")
    page = Paginator(endpoints, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "params": params,
        "ignored": ignored,
        "sort": sort,
        "regions": Region.objects.all(),
        "vpcs": Vpc.objects.only("vpc_id", "name"),
        "workspaces": Workspace.objects.only("slug", "name"),
        "kinds": Kind.choices,
        "statuses": Status.choices,
        "total": Endpoint.objects.count(),
    }
    return render(
        request,
        page_or_fragment(request, "network/endpoint_list.html", "endpoint-table"),
        context,
    )


# -- registration -------------------------------------------------------------------------


@sensitive_post_parameters("eas_token_secret")
@require(Perm.MANAGE_ENDPOINTS)
def endpoint_create(request):
    kind = request.POST.get("kind") or request.GET.get("kind")
    initial = {
        k: request.GET[k]
        for k in ("kind", "url", "region", "api_style", "name")
        if request.GET.get(k)
    }
    form = EndpointForm(request.POST or None, kind=kind, initial=initial)
    if request.method == "POST" and form.is_valid() and _save_endpoint(request, form):
        endpoint = form.instance
        messages.success(
            request, f"Endpoint {endpoint.name} registered; the first probe runs within seconds."
        )
        return redirect(endpoint)
    return _endpoint_form(request, form, None)


@sensitive_post_parameters("eas_token_secret")
@require(Perm.MANAGE_ENDPOINTS)
def endpoint_edit(request, pk):
    endpoint = get_endpoint_for_user(request.user, pk)
    kind = request.POST.get("kind") or request.GET.get("kind") or endpoint.kind
    form = EndpointForm(request.POST or None, instance=endpoint, kind=kind)
    if request.method == "POST" and form.is_valid() and _save_endpoint(request, form):
        messages.success(request, f"Saved {endpoint.name}.")
        return redirect(endpoint)
    return _endpoint_form(request, form, endpoint)


def _save_endpoint(request, form) -> bool:
    """Save through the service; False with the service's errors on the form (a race lost)."""
    endpoint = form.instance
    if endpoint.pk is None:
        endpoint.created_by = request.user
    try:
        services.save_endpoint(endpoint, actor=request.user, eas_token=form.pending_eas_token)
    except ValidationError as exc:
        form._update_errors(exc)
        return False
    return True


def _endpoint_form(request, form, endpoint, **extra):
    status = 422 if form.is_bound and form.errors else 200
    form.enable_live_validation(reverse("endpoint-validate"))
    context = {
        "form": form,
        "endpoint": endpoint,
        "kinds": [(value, label, KIND_HOST_HINT[value]) for value, label in Kind.choices],
        "warnings": _warnings(form),
        **extra,
    }
    template = page_or_fragment(request, "network/endpoint_form.html", "endpoint-form")
    return render(request, template, context, status=status)


def _warnings(form):
    """Rules that pass with a flag (no zone failover, explicit port…), shown beside the form."""
    if not form.is_bound or form.errors or not form.chosen_kind:
        return []
    return form.warnings


@require(Perm.MANAGE_ENDPOINTS)
def endpoint_form_for_kind(request):
    """The form with only the chosen kind's fields (htmx, when the kind changes)."""
    endpoint = None
    if request.GET.get("endpoint"):
        endpoint = get_endpoint_for_user(request.user, request.GET["endpoint"])
    data = request.GET.copy()
    form = EndpointForm(kind=data.get("kind"), instance=endpoint, initial=data.dict())
    return _endpoint_form(request, form, endpoint)


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def endpoint_validate_field(request):
    """Validate the whole form, answer with one field's errors (htmx, on leaving a field)."""
    name = request.GET.get("field", "")
    endpoint = None
    if request.POST.get("endpoint_pk"):
        endpoint = get_endpoint_for_user(request.user, request.POST["endpoint_pk"])
    form = EndpointForm(request.POST, kind=request.POST.get("kind"), instance=endpoint)
    form.enable_live_validation(reverse("endpoint-validate"))
    form.is_valid()
    if name not in form.fields:
        return render(request, "network/endpoint_form.html#form-errors", {"form": form})
    return render(request, "components/field.html", {"field": form[name]})


@require(Perm.MANAGE_ENDPOINTS)
@require_POST
def endpoint_parse_url(request):
    """The paste box: a base URL, a curl line or SDK code → kind, region, URL and style."""
    text = request.POST.get("paste", "")
    url = find_url(text)
    notes: list[str] = []
    if url is None:
        return render(
            request,
            "network/endpoint_form.html#paste-result",
            {"paste_error": "No http(s) URL or *.aliyuncs.com host found in what you pasted."},
        )
    try:
        parsed = parse_url(url, services.public_hosts())
    except ValueError as exc:
        return render(request, "network/endpoint_form.html#paste-result", {"paste_error": str(exc)})
    if parsed.kind is None:
        notes.append(
            f"{parsed.host} is not a Model Studio or PAI-EAS host; pick the kind yourself."
        )
    if parsed.has_placeholder:
        notes.append(
            "The host contains a placeholder from the docs (***, {WorkspaceId}, <uid>): replace it."
        )
    if "_" in parsed.host:
        notes.append(
            f"Underscores make Private DNS names fail: use {parsed.host.replace('_', '-')}."
        )
    if parsed.kind == Kind.PRIVATELINK_DEFAULT:
        notes.append(
            "A default endpoint domain: if it reaches another region, choose 'Cross-region endpoint'."
        )
    initial = {
        "kind": parsed.kind or "",
        "url": parsed.url,
        "region": parsed.region or "",
        "api_style": parsed.api_style or "openai",
        "name": request.POST.get("name", ""),
    }
    form = EndpointForm(kind=parsed.kind, initial=initial)
    recognised = ", ".join(
        part
        for part in (
            Kind(parsed.kind).label if parsed.kind else None,
            parsed.region,
            ApiStyle(parsed.api_style).label if parsed.api_style else None,
        )
        if part
    )
    return _endpoint_form(
        request, form, None, paste_notes=notes, pasted=parsed, recognised=recognised, paste=text
    )


@require(Perm.MANAGE_ENDPOINTS)
def endpoint_delete(request, pk):
    endpoint = get_endpoint_for_user(request.user, pk)
    if request.method == "POST":
        name = endpoint.name
        services.delete_endpoint(endpoint, actor=request.user)
        messages.success(request, f"Endpoint {name} deleted with its probe history.")
        return redirect("endpoint-list")
    count = endpoint.probe_results.count()
    return render(
        request,
        "components/confirm_delete.html",
        {
            "object": endpoint,
            "kind": "endpoint",
            "detail": f"Its {count} probe result{'s' if count != 1 else ''} go{'es' if count == 1 else ''} too.",
        },
    )
