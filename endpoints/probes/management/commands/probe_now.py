"""Probe endpoints synchronously, store the results, print one JSON object per endpoint."""

import json

from django.core.management.base import BaseCommand, CommandError

from endpoints.network.models import Endpoint
from endpoints.probes.runner import run_probes


class Command(BaseCommand):
    help = "Probe endpoints now (no worker needed); prints one JSON line per endpoint."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", type=int, action="append", default=[], metavar="ID")
        parser.add_argument("--all", action="store_true", help="Every enabled endpoint.")

    def handle(self, endpoint, all, **options):
        if all:
            ids = list(
                Endpoint.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True)
            )
        elif endpoint:
            known = set(Endpoint.objects.filter(pk__in=endpoint).values_list("pk", flat=True))
            missing = sorted(set(endpoint) - known)
            if missing:
                raise CommandError(f"No endpoint with id {', '.join(map(str, missing))}.")
            ids = endpoint
        else:
            raise CommandError("Give --endpoint ID (repeatable) or --all.")
        results = run_probes(ids, source="cli")
        for result in sorted(results, key=lambda r: ids.index(r.endpoint_id)):
            self.stdout.write(json.dumps(result.as_json(), ensure_ascii=False))
