"""Status over time at scale, on PostgreSQL: `python -m endpoints.devtools.bench.status [--out FILE]`.

Creates a database of its own (`bench_status`, dropped afterwards) on the server named by
BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/bench_status) and measures:

1. bytes per stored probe: pg_total_relation_size of the raw results table (heap, TOAST and
   every index) after inserting N realistic rows, divided by N; the same for an hourly rollup
   row and a status change;
2. the daily growth projected for 10,000 endpoints probed every 60 s: raw results are a fixed
   48-hour plateau, rollups and status changes grow;
3. one /metrics scrape of 10,000 endpoints (each with its latest result);
4. the probe board and an endpoint page with 5,000 endpoints and a year of hourly rollups.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

MARKER = "## Status over time: storage, /metrics and pages"
ENDPOINTS_METRICS = 10_000
ENDPOINTS_PAGES = 5_000


def _sql(cursor, statement, params=None):
    cursor.execute(statement, params or [])


def size_of(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE " + table)
        cursor.execute("SELECT pg_total_relation_size(%s)", [table])
        return cursor.fetchone()[0]


def build_endpoints(count: int):
    import secrets

    from django.utils import timezone

    from endpoints.network.models import Endpoint, Vpc
    from endpoints.probes import schedules
    from portal.accounts.models import User
    from portal.workspaces.models import Workspace

    admin = User.objects.create_user("bench", password=secrets.token_urlsafe(), role="admin")
    workspace = Workspace.objects.create(
        slug="ws",
        name="WS",
        workspace_id="llm-benchstatus",
        region_id="cn-beijing",
        scope="mainland",
        currency="CNY",
    )
    vpcs = [
        Vpc.objects.create(
            vpc_id=f"vpc-bench{n:04d}",
            name=f"VPC {n}",
            region_id="cn-beijing",
            cidr=f"10.{n}.0.0/16",
        )
        for n in range(50)
    ]
    now = timezone.now()
    rows = [
        Endpoint(
            name=f"endpoint {n:05d}",
            kind="privatelink_default",
            url=f"http://ep-bench{n:05d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            host=f"ep-bench{n:05d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            region_id="cn-beijing",
            vpc=vpcs[n % 50],
            workspace=workspace,
            zones=["cn-beijing-a"],
            status="up" if n % 10 else "down",
            diagnosis="ok" if n % 10 else "tcp_timeout",
            last_probe_at=now,
            last_total_ms=21.7,
            status_changed_at=now,
        )
        for n in range(count)
    ]
    Endpoint.objects.bulk_create(rows, batch_size=2000)
    ids = list(Endpoint.objects.order_by("pk").values_list("pk", flat=True))
    schedules.sync(ids, reprobe=False)
    return admin, ids


def insert_results(ids, per_endpoint: int, step_s: int = 60):
    """Realistic raw rows, by SQL: one address, a short message, every phase, a slot."""
    from django.db import connection

    with connection.cursor() as cursor:
        _sql(
            cursor,
            """
            INSERT INTO probes_proberesult (endpoint_id, location, slot, started_at, status, diagnosis,
                message, failed_phase, resolve_ms, connect_ms, tls_ms, processing_ms, transfer_ms, total_ms,
                addresses, cname_chain, http_status, request_id, source)
            SELECT e, 'central', ts, ts + interval '3 ms', 'up', 'ok',
                'Model Studio answered; the key and the model permission are valid.', '',
                0.4 + random(), 1.1 + random(), NULL, 18 + random() * 5, 0.2, 21 + random() * 6,
                '[{"address": "10.1.2.3", "class": "private", "connect_ms": 1.2, "ok": true, "error": null}]'::jsonb,
                '[]'::jsonb, 400, 'd9b5c1f0-8c4e-4f43-9a55-3c7a1e2b4f60', 'schedule'
            FROM unnest(%s::bigint[]) AS e,
                 generate_series(now() - (%s * interval '1 second'), now() - interval '1 second', %s * interval '1 second') AS ts
            """,
            [ids, per_endpoint * step_s, step_s],
        )


def measure_storage(ids) -> dict:
    from django.db import connection

    from endpoints.status import rollups

    before = size_of("probes_proberesult")
    per = 100  # 100 results for each of the endpoints
    insert_results(ids, per)
    n_results = len(ids) * per
    raw = (size_of("probes_proberesult") - before) / n_results
    before = size_of("status_hourlyrollup")
    hours = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT date_trunc('hour', started_at) FROM probes_proberesult")
        hour_list = [r[0] for r in cursor.fetchall()]
    started = time.perf_counter()
    for hour in hour_list:
        rollups.build_hour(hour)
        hours += 1
    rollup_s = (time.perf_counter() - started) / max(1, hours)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM status_hourlyrollup")
        n_rollups = cursor.fetchone()[0]
    rollup = (size_of("status_hourlyrollup") - before) / max(1, n_rollups)
    before = size_of("probes_statuschange")
    with connection.cursor() as cursor:
        _sql(
            cursor,
            """INSERT INTO probes_statuschange (endpoint_id, location, at, status, previous, diagnosis)
               SELECT e, 'central', now() - g * interval '1 hour', 'down', 'up', 'tcp_timeout'
               FROM unnest(%s::bigint[]) AS e, generate_series(1, 20) AS g""",
            [ids],
        )
    flip = (size_of("probes_statuschange") - before) / (len(ids) * 20)
    return {
        "raw": raw,
        "rollup": rollup,
        "flip": flip,
        "n_results": n_results,
        "rollup_s_per_hour": rollup_s,
        "rollup_rows_per_hour": n_rollups / max(1, hours),
    }


def measure_metrics(rounds: int) -> dict:
    from django.db import connection

    from endpoints.status import metrics

    with connection.cursor() as cursor:
        # Each schedule's latest result is the one it points at (as the recorder leaves it).
        cursor.execute(
            """UPDATE probes_probeschedule s SET status = 'up', last_probe_at = r.m
               FROM (SELECT endpoint_id, max(started_at) m FROM probes_proberesult GROUP BY endpoint_id) r
               WHERE r.endpoint_id = s.endpoint_id"""
        )
    metrics.render()
    timings, size = [], 0
    for _ in range(rounds):
        start = time.perf_counter()
        body = metrics.render()
        timings.append((time.perf_counter() - start) * 1000)
        size = len(body)
    series = body.count(b"\n") - body.count(b"\n#")
    return {
        "median_ms": statistics.median(timings),
        "max_ms": max(timings),
        "bytes": size,
        "series": series,
    }


def year_of_rollups(ids, rollup_endpoints: int):
    from django.db import connection

    with connection.cursor() as cursor:
        _sql(
            cursor,
            """INSERT INTO status_hourlyrollup (endpoint_id, location, hour, up, degraded, down, unknown,
                  total_p50, total_p95, total_p99, resolve_p50, resolve_p95, resolve_p99, connect_p50, connect_p95,
                  connect_p99, tls_p50, tls_p95, tls_p99, processing_p50, processing_p95, processing_p99,
                  transfer_p50, transfer_p95, transfer_p99)
               SELECT e, 'central', h, 60, 0, 0, 0, 22, 26, 30, 0.5, 0.9, 1.2, 1.3, 1.9, 2.5, NULL, NULL, NULL,
                  19, 22, 25, 0.2, 0.3, 0.4
               FROM unnest(%s::bigint[]) AS e,
                    generate_series(date_trunc('hour', now()) - interval '365 days', date_trunc('hour', now()) - interval '3 hours', interval '1 hour') AS h
               ON CONFLICT DO NOTHING""",
            [ids[:rollup_endpoints]],
        )
        cursor.execute("SELECT count(*) FROM status_hourlyrollup")
        return cursor.fetchone()[0]


def measure_pages(admin, ids, rounds: int) -> list[dict]:
    from django.test import Client

    from endpoints.status.tasks import refresh_summaries

    refresh_summaries(ids)
    client = Client()
    client.force_login(admin)
    rows = []
    for path in (
        "/probes/",
        f"/endpoints/{ids[7]}/",
        f"/endpoints/{ids[7]}/?range=7d",
        f"/endpoints/{ids[7]}/?range=30d",
        "/incidents/",
    ):
        client.get(path)
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        rows.append(
            {
                "path": path.replace(str(ids[7]), "<id>"),
                "median_ms": statistics.median(timings),
                "max_ms": max(timings),
            }
        )
    return rows


def report(storage, scrape, pages, rollup_rows, rollup_endpoints) -> str:
    per_day = 10_000 * 1440
    plateau = per_day * 2 * storage["raw"]
    rollups_day = 10_000 * 24 * storage["rollup"]
    flips_day = 10_000 * 10 * storage["flip"]  # ten flips per endpoint a day: a flapping fleet
    growth = rollups_day + flips_day
    gib = 1024**3
    lines = [
        MARKER,
        "",
        f"`python -m endpoints.devtools.bench.status` on {time.strftime('%Y-%m-%d')}, PostgreSQL "
        f"(a database of its own), Python {platform.python_version()}, {os.cpu_count()} cores.",
        "",
        "### Bytes per stored row (pg_total_relation_size: heap, TOAST and every index)",
        "",
        "| Row | Bytes | Measured over |",
        "|---|---:|---|",
        f"| raw probe result | {storage['raw']:.0f} | {storage['n_results']:,} rows (one address, a message, every phase, a slot) |",
        f"| hourly rollup (per endpoint, location, hour) | {storage['rollup']:.0f} | {storage['rollup_rows_per_hour']:.0f} rows an hour |",
        f"| status change | {storage['flip']:.0f} | {ENDPOINTS_METRICS * 20:,} rows |",
        "",
        "### 10,000 endpoints every 60 s",
        "",
        "| | Per day | Kept | Size |",
        "|---|---:|---|---:|",
        f"| raw results | {per_day:,} rows | 48 h (a fixed plateau) | {plateau / gib:.1f} GiB, flat |",
        f"| hourly rollups | {10_000 * 24:,} rows | 400 days | +{rollups_day / 1024**2:.0f} MiB a day |",
        f"| status changes (10 a day per endpoint) | {100_000:,} rows | 400 days | +{flips_day / 1024**2:.0f} MiB a day |",
        f"| **growth once the raw plateau is reached** | | | **{growth / 1024**2:.0f} MiB a day** (target ≤ 1 GiB) {'PASS' if growth <= gib else 'FAIL'} |",
        "",
        f"Building one hour's rollups (INSERT … SELECT with percentile_cont) took {storage['rollup_s_per_hour'] * 1000:.0f} ms "
        f"for {storage['rollup_rows_per_hour']:.0f} endpoints here. Pruning deletes 1,000 rows per statement, each "
        "in its own transaction, oldest first by the started_at index.",
        "",
        "### /metrics and pages",
        "",
        "| What | Median | Max | Target | |",
        "|---|---:|---:|---:|---|",
        f"| one `/metrics` scrape, {ENDPOINTS_METRICS:,} endpoints ({scrape['series']:,} series, {scrape['bytes'] / 1024**2:.1f} MiB) | "
        f"{scrape['median_ms']:.0f} ms | {scrape['max_ms']:.0f} ms | < 1000 ms | {'PASS' if scrape['median_ms'] < 1000 else 'FAIL'} |",
    ]
    for row in pages:
        ok = "PASS" if row["median_ms"] < 200 else "FAIL"
        lines.append(
            f"| `{row['path']}` | {row['median_ms']:.0f} ms | {row['max_ms']:.0f} ms | < 200 ms | {ok} |"
        )
    lines += [
        "",
        f"The pages ran with {ENDPOINTS_PAGES:,} endpoints (plus the {ENDPOINTS_METRICS - ENDPOINTS_PAGES:,} more of the scrape: "
        f"{ENDPOINTS_METRICS:,} in all), their uptime summaries, and {rollup_rows:,} hourly rollups: a full year for "
        f"{rollup_endpoints:,} endpoints, the one shown among them. An endpoint page reads only its own rollups through "
        "the (endpoint, location, hour) index, so its time does not depend on the other endpoints' years; the board "
        "reads the summaries, never the rollups. Server time through Django's test client.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rollup-endpoints", type=int, default=200)
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_status")
    import psycopg

    server, _, name = url.rpartition("/")
    admin_url = f"{server}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / "bench-status"  # noqa: S108
    workdir.mkdir(exist_ok=True)
    os.environ.update(
        {
            "DATABASE_URL": url,
            "PORTAL_VAR_DIR": str(workdir),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_STATIC_MANIFEST": "0",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("DEBUG", None)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    try:
        call_command("migrate", verbosity=0)
        admin, ids = build_endpoints(ENDPOINTS_METRICS)
        storage = measure_storage(ids)
        print(f"storage: {storage}")
        scrape = measure_metrics(args.rounds)
        print(f"scrape: {scrape}")
        page_ids = ids[:ENDPOINTS_PAGES]
        rollup_rows = year_of_rollups(page_ids, args.rollup_endpoints)
        pages = measure_pages(admin, page_ids, args.rounds)
        text = report(storage, scrape, pages, rollup_rows, args.rollup_endpoints)
    finally:
        connection.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    print(text)
    if args.out:
        path = Path(args.out)
        existing = path.read_text() if path.exists() else "# Benchmarks\n"
        if MARKER in existing:
            start = existing.index(MARKER)
            rest = existing[start + len(MARKER) :]
            following = rest.find("\n## ")
            tail = rest[following:] if following >= 0 else ""
            existing = existing[:start].rstrip() + "\n" + tail
        path.write_text(existing.rstrip() + "\n\n" + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
