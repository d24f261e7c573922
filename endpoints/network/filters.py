"""Endpoint filtering, in one place for the registry page, the probe board and the JSON API."""

from django.db.models import Q


def filter_endpoints(queryset, params):
    """Apply the list's filters; shared by the page and the JSON API."""
    if params.get("region"):
        queryset = queryset.filter(region_id=params["region"])
    if params.get("vpc"):
        vpc = str(params["vpc"])
        queryset = (
            queryset.filter(vpc_id=int(vpc)) if vpc.isdigit() else queryset.filter(vpc__vpc_id=vpc)
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
