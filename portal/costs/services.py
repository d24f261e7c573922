"""Writes about usage and money."""

from collections import defaultdict

from django.db.models import F
from django.utils import timezone

from .models import ModelPrice, UsageRecord


def account_probe_usage(calls) -> None:
    """Record the probes' billed 1-token model calls against their workspaces (source
    "probe"): `calls` is (workspace, {"model", "input_tokens", "output_tokens"}) pairs."""
    totals: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    workspaces = {}
    for workspace, usage in calls:
        key = (workspace.pk, usage["model"], workspace.region_id)
        workspaces[workspace.pk] = workspace
        totals[key][0] += 1
        totals[key][1] += usage["input_tokens"]
        totals[key][2] += usage["output_tokens"]
    if not totals:
        return
    day = timezone.localdate()
    prices = {
        (p.model.name, p.region_id): p
        for p in ModelPrice.objects.filter(model__name__in={k[1] for k in totals}).select_related(
            "model"
        )
    }
    for (workspace_id, model, region_id), (requests, tokens_in, tokens_out) in totals.items():
        price = prices.get((model, region_id))
        cost = price.cost(tokens_in, tokens_out) if price else 0
        currency = price.currency if price else workspaces[workspace_id].currency
        row, _ = UsageRecord.objects.get_or_create(
            workspace_id=workspace_id,
            model_name=model,
            day=day,
            source="probe",
            defaults={"currency": currency},
        )
        UsageRecord.objects.filter(pk=row.pk).update(
            requests=F("requests") + requests,
            input_tokens=F("input_tokens") + tokens_in,
            output_tokens=F("output_tokens") + tokens_out,
            cost=F("cost") + cost,
        )
