"""The recorder's one-statement update writes each row's own values, of every type it sends
(on PostgreSQL as arrays, elsewhere as a VALUES list), and leaves other rows alone."""

import uuid
from datetime import timedelta

from django.utils import timezone

from endpoints.probes.bulk import bulk_set
from endpoints.probes.models import ProbeSchedule

FIELDS = [
    *("next_probe_at", "lease_token", "lease_until", "leased_by", "message", "bad_streak"),
    "last_total_ms",
]


def test_each_row_gets_its_own_values_and_others_are_untouched(probed, make_endpoint, workspace_a):
    for n in range(3):
        make_endpoint(
            name=f"more {n}",
            url=f"http://ep-bulk{n:03d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            workspace=workspace_a,
            vpc=probed.vpc,
        )
    rows = list(ProbeSchedule.objects.order_by("pk"))
    untouched = rows.pop()
    before = ProbeSchedule.objects.values().get(pk=untouched.pk)
    now = timezone.now().replace(microsecond=0)
    expected = {}
    for n, row in enumerate(rows):
        row.next_probe_at = now + timedelta(seconds=n)
        row.lease_token = uuid.uuid4() if n % 2 else None
        row.lease_until = None if n % 2 else now
        row.leased_by = "" if n % 2 else "agent"
        row.message = f'it\'s "quoted", {n} ; DROP TABLE x; -- ünïcode'
        row.bad_streak = n * 7
        row.last_total_ms = [None, 12, 3.25][n % 3]  # an int in a float column too
        expected[row.pk] = {f: getattr(row, f) for f in FIELDS}
    assert bulk_set(ProbeSchedule, rows, FIELDS, batch_size=2) == len(rows)
    stored = {r["pk"]: r for r in ProbeSchedule.objects.values("pk", *FIELDS)}
    for pk, values in expected.items():
        assert {f: stored[pk][f] for f in FIELDS} == values
    assert ProbeSchedule.objects.values().get(pk=untouched.pk) == before
