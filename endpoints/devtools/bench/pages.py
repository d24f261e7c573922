"""Page speed with thousands of endpoints: `python -m endpoints.devtools.bench.pages [--out FILE]`.

Builds a throw-away SQLite database (5,000 endpoints over 50 VPCs and 20 workspaces,
100,000 probe results), then times the busiest pages and API routes through Django's
test client, server side only, and counts their queries. Appends a section to the
benchmarks document when --out is given.
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

TARGETS_MS = {
    "/endpoints/": 300,
    "/endpoints/?status=down&sort=-latency": 300,
    "/endpoints/?q=ep-bench0042": 300,
    "/probes/": 300,
    "/endpoints/{detail}/": 300,
    "/workspaces/": 300,
    "/vpcs/": 300,
    "/costs/": 300,
    "/api/v1/endpoints?status=down": 2000,
}


def build(endpoints: int, results: int) -> dict:
    import secrets

    from django.core.management import call_command
    from django.utils import timezone

    from endpoints.network.models import Endpoint, Vpc
    from endpoints.probes.models import ProbeResult
    from portal.accounts.models import ApiToken, User
    from portal.workspaces.models import ApiKey, Workspace

    call_command("migrate", verbosity=0)
    admin = User.objects.create_user("bench", password=secrets.token_urlsafe(), role="admin")
    _, token = ApiToken.issue(admin, "bench")
    workspaces = []
    for n in range(20):
        ws = Workspace.objects.create(
            slug=f"ws-{n}",
            name=f"Workspace {n}",
            workspace_id=f"llm-bench{n:04d}",
            region_id="cn-beijing",
            scope="mainland",
            is_default=n == 0,
            monthly_budget=1000,
            currency="CNY",
        )
        key = ApiKey(workspace=ws, label="k")
        key.set_secret("sk-" + secrets.token_hex(16))
        key.save()
        workspaces.append(ws)
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
    statuses = ["up"] * 7 + ["degraded", "down", "unknown"]
    rows = [
        Endpoint(
            name=f"endpoint {n:05d}",
            kind="privatelink_default",
            url=f"http://ep-bench{n:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            host=f"ep-bench{n:04d}.dashscope.cn-beijing.privatelink.aliyuncs.com",
            region_id="cn-beijing",
            vpc=vpcs[n % len(vpcs)],
            workspace=workspaces[n % len(workspaces)],
            zones=["cn-beijing-a", "cn-beijing-b"],
            status=statuses[n % len(statuses)],
            diagnosis={"up": "ok", "degraded": "slow", "down": "tcp_timeout", "unknown": ""}[
                statuses[n % len(statuses)]
            ],
            status_message="bench",
            last_total_ms=float(n % 500),
            last_probe_at=now,
            status_changed_at=now - timedelta(minutes=n % 90),
        )
        for n in range(endpoints)
    ]
    Endpoint.objects.bulk_create(rows, batch_size=1000)
    ids = list(Endpoint.objects.values_list("pk", flat=True))
    probe_rows = []
    for n in range(results):
        probe_rows.append(
            ProbeResult(
                endpoint_id=ids[n % len(ids)],
                started_at=now - timedelta(seconds=n),
                status="up",
                diagnosis="ok",
                message="ok",
                resolve_ms=0.5,
                connect_ms=1.0,
                processing_ms=20.0,
                transfer_ms=0.2,
                total_ms=21.7,
                addresses=[
                    {
                        "address": "127.0.0.1",
                        "class": "loopback",
                        "connect_ms": 1.0,
                        "ok": True,
                        "error": None,
                    }
                ],
            )
        )
        if len(probe_rows) == 5000:
            ProbeResult.objects.bulk_create(probe_rows)
            probe_rows = []
    ProbeResult.objects.bulk_create(probe_rows)
    return {"admin": admin, "token": token, "detail": ids[42]}


def measure(world, rounds: int) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(world["admin"])
    rows = []
    for path_template, target in TARGETS_MS.items():
        path = path_template.format(detail=world["detail"])
        headers = (
            {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"} if path.startswith("/api/") else {}
        )
        client.get(path, **headers)  # warm caches and templates
        timings = []
        for _ in range(rounds):
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                response = client.get(path, **headers)
                timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        median = statistics.median(timings)
        rows.append(
            {
                "path": path_template.replace("{detail}", "<id>"),
                "median_ms": median,
                "max_ms": max(timings),
                "queries": len(queries),
                "target_ms": target,
                "bytes": len(response.content),
            }
        )
    return rows


def report(rows, endpoints: int, results: int) -> str:
    lines = [
        "## Pages with thousands of endpoints",
        "",
        f"`python -m endpoints.devtools.bench.pages` on {time.strftime('%Y-%m-%d')}: a throw-away SQLite database with "
        f"{endpoints:,} endpoints (50 VPCs, 20 workspaces) and {results:,} probe results; each page requested "
        f"through Django's test client as an admin, server time only (no network, no browser), median of the "
        f"rounds. Python {platform.python_version()}, {os.cpu_count()} cores.",
        "",
        "| Page | Median | Max | Queries | Size | Target | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ok = "PASS" if row["median_ms"] <= row["target_ms"] else "FAIL"
        lines.append(
            f"| `{row['path']}` | {row['median_ms']:.0f} ms | {row['max_ms']:.0f} ms | {row['queries']} | "
            f"{row['bytes'] / 1024:.0f} KiB | < {row['target_ms']} ms | {ok} |"
        )
    lines += [
        "",
        "Query counts do not grow with the number of rows (the list shows 50 per page, the board aggregates, "
        "and the tests assert the same count for 5 and 50 rows).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=5000)
    parser.add_argument("--results", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--out", help="Append the report to this Markdown file (replacing an earlier one)."
    )
    args = parser.parse_args(argv)

    workdir = tempfile.mkdtemp(prefix="bench-pages-")
    os.environ.update(
        {
            "PORTAL_VAR_DIR": workdir,
            "DATABASE_URL": f"sqlite:///{Path(workdir) / 'bench.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PORTAL_STATIC_MANIFEST": "0",
            "ALLOWED_HOSTS": "testserver",
        }
    )
    os.environ.pop("DEBUG", None)
    import django

    django.setup()
    from django.test.utils import setup_test_environment

    setup_test_environment()
    started = time.perf_counter()
    world = build(args.endpoints, args.results)
    print(
        f"built {args.endpoints:,} endpoints and {args.results:,} results in {time.perf_counter() - started:.0f} s"
    )
    rows = measure(world, args.rounds)
    text = report(rows, args.endpoints, args.results)
    print(text)
    if args.out:
        from .report import write_section

        write_section(args.out, "Pages with thousands of endpoints", text)
    return 0 if all(r["median_ms"] <= r["target_ms"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
