"""Endpoint filtering, in one place for the registry page, the probe board and the JSON API.

`clean_filters` says which filters are usable and why the others are not (the API answers
400 with the reasons, the page shows them as notes and ignores those filters);
`filter_endpoints` applies the usable ones.
"""

from django.db.models import Q

from portal.workspaces.models import Region, Workspace

from .choices import Diagnosis, Kind, Status
from .models import Vpc

FILTERS = ("region", "vpc", "kind", "status", "workspace", "diagnosis", "q")
MAX_QUERY = 200
CHOICES = {
    "kind": ("kinds", Kind),
    "status": ("statuses", Status),
    "diagnosis": ("diagnoses", Diagnosis),
}


def clean_filters(params) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(usable filters, {name: [why not]}) from the given `params` (empty ones are skipped)."""
    usable: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    for name in FILTERS:
        value = params.get(name)
        if value in (None, ""):
            continue
        value = str(value).strip()
        problem = _problem(name, value)
        if problem:
            problems[name] = [problem]
        elif value:
            usable[name] = value
    return usable, problems


def _problem(name: str, value: str) -> str | None:
    if name in CHOICES:
        plural, choices = CHOICES[name]
        if value not in choices.values:
            shown = ", ".join(choices.values) if len(choices.values) <= 12 else None
            return f"'{value[:60]}' is not a {name}" + (f"; {plural}: {shown}." if shown else ".")
        return None
    if name == "q":
        if len(value) > MAX_QUERY:
            return f"Search for at most {MAX_QUERY} characters."
        return None
    if len(value) > 100:
        return f"'{value[:60]}…' is not a {name}."
    if name == "region" and not Region.objects.filter(pk=value).exists():
        return f"Unknown region '{value}'."
    if name == "vpc":
        lookup = {"pk": int(value)} if _is_pk(value) else {"vpc_id": value}
        if not Vpc.objects.filter(**lookup).exists():
            return f"Unknown VPC '{value}'."
    if name == "workspace" and not Workspace.objects.filter(slug=value).exists():
        return f"Unknown workspace '{value}'."
    return None


def _is_pk(value: str) -> bool:
    """A VPC's database id (the page's links) rather than its VPC ID."""
    return value.isascii() and value.isdigit() and len(value) < 19


def filter_endpoints(queryset, params):
    """Apply the list's filters (as `clean_filters` passed them); shared by the page and the API."""
    if params.get("region"):
        queryset = queryset.filter(region_id=params["region"])
    if params.get("vpc"):
        vpc = str(params["vpc"])
        queryset = (
            queryset.filter(vpc_id=int(vpc)) if _is_pk(vpc) else queryset.filter(vpc__vpc_id=vpc)
        )
    if params.get("kind"):
        queryset = queryset.filter(kind=params["kind"])
    if params.get("workspace"):
        queryset = queryset.filter(workspace__slug=params["workspace"])
    if params.get("status"):
        queryset = queryset.filter(status=params["status"])
    if params.get("diagnosis"):
        queryset = queryset.filter(diagnosis=params["diagnosis"])
    if params.get("q"):
        q = params["q"].strip()
        queryset = queryset.filter(Q(name__icontains=q) | Q(host__icontains=q))
    return queryset
