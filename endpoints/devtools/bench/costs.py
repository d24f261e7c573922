"""Cost pages and API with a year of hourly usage: `python -m endpoints.devtools.bench.costs [--out FILE]`.

Builds a throw-away SQLite database with 200 workspaces (100 in Beijing billed in CNY, 100
in Singapore in USD) and imports a year of hourly Model Studio bills through the real
importer, one month's file at a time (one bill line per workspace and hour: ~1.75 million
lines, rolled up into daily records), plus two months of metered usage through the ingest
service. Then times the cost split, a workspace's breakdown, reconciliation and the costs
API through Django's test client, server side only, and counts their queries. Writes its
own section of the benchmarks document when --out is given (the other sections are kept).
"""

import argparse
import csv
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

SECTION = "## Costs with a year of hourly usage"
TARGET_MS = 200
MODELS = ("qwen-plus", "qwen-max", "qwen-flash")


def paths(today: date, slug: str) -> list[tuple[str, int | None]]:
    """(path, target in ms); None: measured and shown, no target (a whole year at once)."""
    month_start = today.replace(day=1)
    last_end = month_start - timedelta(days=1)
    last_start = last_end.replace(day=1)
    year_start = today - timedelta(days=364)
    return [
        ("/costs/", TARGET_MS),
        ("/costs/?range=last_month", TARGET_MS),
        (f"/costs/workspaces/{slug}/?range=last_month", TARGET_MS),
        (f"/costs/workspaces/{slug}/?range=last_month&table=days", TARGET_MS),
        (f"/costs/reconciliation/?month={last_start:%Y-%m}", TARGET_MS),
        (f"/api/v1/costs?start={month_start}&end={today}", TARGET_MS),
        (f"/api/v1/costs?start={last_start}&end={last_end}", TARGET_MS),
        (f"/costs/?range=custom&start={year_start}&end={today}", None),
        (f"/api/v1/costs?start={year_start}&end={today}", None),
    ]


def bill_month(workspaces, first: date, last: date) -> bytes:
    """An hourly bill (the layout since 2025-12-16): one line per workspace and hour."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Billing Date",
            "Billing Time",
            "Product Name",
            "Instance ID",
            "ApiKeyId",
            "WorkspaceId",
            "ModelName",
            "AmountType",
            "Source",
            "Usage",
            "Usage Unit",
            "Payable Amount",
            "Currency",
        ]
    )
    day = first
    while day <= last:
        for hour in range(24):
            for n, ws in enumerate(workspaces):
                model = MODELS[(hour + n) % len(MODELS)]
                side = "input_token" if hour % 2 else "output_token"
                tokens = 1000 + (n * 37 + hour * 101 + day.day * 13) % 20_000
                units = tokens * 80 + n % 7  # in 10^-8: about 0.8 per million tokens
                amount = f"{units // 10**8}.{units % 10**8:08d}"
                writer.writerow(
                    [
                        day.isoformat(),
                        f"{day} {hour:02d}:00:00",
                        "Alibaba Cloud Model Studio",
                        f"{n % 5};{ws.workspace_id};{model};{side};api",
                        str(n % 5),
                        ws.workspace_id,
                        model,
                        side,
                        "api",
                        str(tokens),
                        "tokens",
                        amount,
                        ws.currency,
                    ]
                )
        day += timedelta(days=1)
    return out.getvalue().encode()


def build(workspace_count: int, today: date) -> dict:
    import secrets

    from django.core.management import call_command

    from portal.accounts.models import ApiToken, User
    from portal.costs import services
    from portal.workspaces.models import ApiKey, Workspace

    call_command("migrate", verbosity=0)
    admin = User.objects.create_user("bench", password=secrets.token_urlsafe(), role="admin")
    _, token = ApiToken.issue(admin, "bench")
    workspaces = []
    for n in range(workspace_count):
        beijing = n % 2 == 0
        ws = Workspace.objects.create(
            slug=f"ws-{n:03d}",
            name=f"Workspace {n:03d}",
            workspace_id=f"llm-bench{n:04d}",
            region_id="cn-beijing" if beijing else "ap-southeast-1",
            scope="mainland" if beijing else "international",
            monthly_budget=500,
            currency="CNY" if beijing else "USD",
        )
        key = ApiKey(workspace=ws, label="k")
        key.set_secret("sk-" + secrets.token_hex(16))
        key.save()
        workspaces.append(ws)
    start = today - timedelta(days=364)
    imports = []
    cursor = start
    while cursor <= today:
        last = min(
            (cursor.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1), today
        )
        content = bill_month(workspaces, cursor, last)
        began = time.perf_counter()
        bill_import = services.upload_bill(content, f"bill-{cursor:%Y-%m}.csv", actor=admin)
        previewed = time.perf_counter()
        queued = []
        services.confirm_bill_import(bill_import, actor=admin, enqueue=queued.append)
        done = services.run_bill_import(queued[0])
        finished = time.perf_counter()
        assert done.status == "done", done.error
        imports.append(
            {
                "month": f"{cursor:%Y-%m}",
                "rows": done.imported_rows,
                "mb": len(content) / 1e6,
                "preview_s": previewed - began,
                "import_s": finished - previewed,
            }
        )
        print(
            f"  {cursor:%Y-%m}: {done.imported_rows:,} lines, preview {previewed - began:.1f} s, import {finished - previewed:.1f} s"
        )
        cursor = last + timedelta(days=1)
    # Two months of metered usage (the ingest API's daily totals), for reconciliation.
    rows = []
    day = today - timedelta(days=60)
    while day <= today:
        for n, ws in enumerate(workspaces):
            rows.append(
                {
                    "workspace": ws.slug,
                    "model": MODELS[n % len(MODELS)],
                    "date": day.isoformat(),
                    "input_tokens": 200_000 + n * 10,
                    "output_tokens": 50_000,
                    "requests": 400,
                }
            )
        day += timedelta(days=1)
    for begin in range(0, len(rows), 10_000):
        services.ingest_usage(rows[begin : begin + 10_000], actor=admin)
    return {"admin": admin, "token": token, "slug": workspaces[0].slug, "imports": imports}


def measure(world, today: date, rounds: int) -> list[dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(world["admin"])
    rows = []
    for path, target in paths(today, world["slug"]):
        headers = (
            {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"} if path.startswith("/api/") else {}
        )
        client.get(path, **headers)  # warm caches and templates
        timings = []
        for _ in range(rounds):
            with CaptureQueriesContext(connection) as queries:
                began = time.perf_counter()
                response = client.get(path, **headers)
                timings.append((time.perf_counter() - began) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        rows.append(
            {
                "path": path,
                "median_ms": statistics.median(timings),
                "max_ms": max(timings),
                "queries": len(queries),
                "target_ms": target,
                "bytes": len(response.content),
            }
        )
    return rows


def report(rows, world, workspace_count: int, today: date) -> str:
    from portal.costs.models import BillLine, UsageRecord

    imports = world["imports"]
    lines_total = sum(i["rows"] for i in imports)
    biggest = max(imports, key=lambda i: i["rows"])
    rates = [i["rows"] / i["import_s"] for i in imports]
    out = [
        SECTION,
        "",
        f"`python -m endpoints.devtools.bench.costs` (`make bench`) on {time.strftime('%Y-%m-%d')}: a throw-away "
        f"SQLite database with {workspace_count} workspaces (half in Beijing, CNY; half in Singapore, USD) and a "
        f"year of hourly bills up to {today}, imported month by month through the real importer (upload and "
        f"preview, then the import's staging and all-or-nothing finish): {lines_total:,} bill lines, rolled up into "
        f"{UsageRecord.objects.filter(source='bill').count():,} daily records, plus "
        f"{UsageRecord.objects.exclude(source='bill').count():,} daily metered records from the ingest service. "
        f"Each page requested through Django's test client as an admin (every workspace), server time only, "
        f"median of the rounds. Python {platform.python_version()}, {os.cpu_count()} cores.",
        "",
        "| Request | Median | Max | Queries | Size | Target | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        target = f"< {row['target_ms']} ms" if row["target_ms"] else "(a whole year)"
        verdict = (
            ""
            if not row["target_ms"]
            else ("PASS" if row["median_ms"] <= row["target_ms"] else "FAIL")
        )
        out.append(
            f"| `{row['path']}` | {row['median_ms']:.0f} ms | {row['max_ms']:.0f} ms | {row['queries']} | "
            f"{row['bytes'] / 1024:.0f} KiB | {target} | {verdict} |"
        )
    out += [
        "",
        f"Importing: the largest month ({biggest['month']}, {biggest['rows']:,} lines, {biggest['mb']:.0f} MB of CSV) "
        f"previewed in {biggest['preview_s']:.1f} s and imported in {biggest['import_s']:.1f} s; over all months "
        f"{statistics.median(rates):,.0f} lines/s (median; {min(rates):,.0f} to {max(rates):,.0f}). "
        f"{BillLine.objects.count():,} bill lines are stored; the pages read only the daily rollups.",
        "",
    ]
    return "\n".join(out)


PAGES_SECTION = "## Pages with thousands of endpoints"


def write_section(path: Path, text: str) -> None:
    """Replace this benchmark's section of the document, keeping every other one. A new
    section goes before the page benchmark's, which rewrites the document from its own
    heading to the end."""
    existing = path.read_text() if path.exists() else "# Benchmarks\n"
    head, *parts = re.split(r"(?m)^(?=## )", existing)
    parts = [part.strip() for part in parts]
    mine = [i for i, part in enumerate(parts) if part.startswith(SECTION)]
    if mine:
        parts[mine[0]] = text.strip()
    else:
        pages = [i for i, part in enumerate(parts) if part.startswith(PAGES_SECTION)]
        parts.insert(pages[0] if pages else len(parts), text.strip())
    path.write_text("\n\n".join([head.strip() or "# Benchmarks", *parts]) + "\n")


def _setup(workdir: str) -> None:
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", help="Write the report into this Markdown file (its own section).")
    parser.add_argument("--measure", metavar="DIR", help=argparse.SUPPRESS)  # the second process
    args = parser.parse_args(argv)

    if args.measure:
        # A process of its own, like a web worker: none of the build's garbage in memory.
        _setup(args.measure)
        from django.utils import timezone

        from portal.accounts.models import User

        world = json.loads((Path(args.measure) / "world.json").read_text())
        world["admin"] = User.objects.get(username="bench")
        rows = measure(world, timezone.localdate(), args.rounds)
        print(json.dumps(rows))
        return 0

    workdir = tempfile.mkdtemp(prefix="bench-costs-")
    _setup(workdir)
    from django.utils import timezone

    today = timezone.localdate()
    began = time.perf_counter()
    world = build(args.workspaces, today)
    print(f"built in {time.perf_counter() - began:.0f} s")
    (Path(workdir) / "world.json").write_text(
        json.dumps({"token": world["token"], "slug": world["slug"]})
    )
    measured = subprocess.run(  # noqa: S603 - this very module, with our own arguments
        [
            sys.executable,
            "-m",
            "endpoints.devtools.bench.costs",
            "--measure",
            workdir,
            "--rounds",
            str(args.rounds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(measured.stdout.strip().splitlines()[-1])
    text = report(rows, world, args.workspaces, today)
    print(text)
    if args.out:
        write_section(Path(args.out), text)
    return 0 if all(r["median_ms"] <= r["target_ms"] for r in rows if r["target_ms"]) else 1


if __name__ == "__main__":
    sys.exit(main())
